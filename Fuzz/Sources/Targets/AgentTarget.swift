import AgentProtocol

/// The agent protocol's decoder, as either end sees it: a byte stream from the peer split
/// into frames and decoded (the host decodes what the guest agent sends and the other way
/// round; both use `FrameDecoder`). Every message that decodes must encode back to a frame
/// that decodes to the same message.
let agentTarget = FuzzTarget(name: "agent", guestFacing: false, run: { bytes in
    var input = FuzzInput(bytes)
    var decoder = FrameDecoder()
    while !input.isEmpty {
        // The stream arrives in pieces of any size.
        decoder.append(input.bytes(upTo: 300))
        while true {
            let message: Message?
            do throws(ProtocolError) { message = try decoder.next() } catch { return }
            guard let message else { break }
            // What `kiln run` and `kiln exec` exit with, from the agent's exit report.
            if case .exit(let status) = message { _ = status.shellCode }
            guard let frame = try? FrameCodec.encode(message) else { continue }
            // encode() gives the length prefix too; decode(frame:) takes the frame after it.
            let again = try? FrameCodec.decode(frame: Array(frame.dropFirst(4)))
            precondition(again == message, "\(message.name) does not survive encode/decode")
        }
    }
    _ = try? decoder.finish()
}, seeds: {
    let messages: [Message] = [
        .hello(version: 1), .exec(ExecRequest(argv: ["/bin/sh", "-c", "echo hi"], env: ["A=B"], cwd: "/tmp")),
        .stdinData([1, 2, 3]), .stdinClose, .stdout(Array("out".utf8)), .stderr([]), .exit(.exited(0)),
        .signal(15), .copyIn(path: "/tmp/f", mode: 0o644, size: 10), .copyOut(path: "/etc/hosts"),
        .fileInfo(mode: 0o100644, size: 3), .fileData([9, 9, 9]), .fileEnd, .powerOff, .ok,
        .error(code: 2, message: "no such file"),
    ]
    let frames = messages.compactMap { try? FrameCodec.encode($0) }
    // One seed per message (each split in two appends), and one with all of them.
    func pieces(_ frame: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.append(le: UInt16(frame.count))
        return bytes + frame
    }
    return frames.map(pieces) + [frames.flatMap(pieces)]
})
