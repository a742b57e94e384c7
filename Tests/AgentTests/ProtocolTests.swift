@testable import AgentProtocol
import Testing

@Suite struct FrameCodecTests {
    static let samples: [Message] = [
        .hello(version: 1),
        .exec(ExecRequest(argv: ["sh", "-c", "echo hi"], env: ["A=1", "B=x=y"], cwd: "/tmp", uid: 1000, gid: 100, stdin: true)),
        .exec(ExecRequest(argv: ["true"])),
        .stdinData([1, 2, 3]), .stdinData([]), .stdinClose,
        .stdout(Array("out".utf8)), .stderr(Array("err".utf8)),
        .exit(.exited(0)), .exit(.exited(255)), .exit(.signaled(9)),
        .signal(2), .copyIn(path: "/a/b", mode: 0o4755, size: 1 << 40), .copyOut(path: "/etc/passwd"),
        .fileInfo(mode: 0o644, size: 12), .fileData([0, 255]), .fileEnd, .powerOff, .ok,
        .error(code: 2, message: "no such file"),
        .restored(seconds: 1_796_000_000, nanoseconds: 999_999_999), .restored(seconds: 0, nanoseconds: 0),
    ]

    @Test(arguments: samples)
    func roundTrips(_ message: Message) throws {
        var decoder = FrameDecoder()
        decoder.append(encodeFrame(message))
        #expect(try decoder.next() == message)
        #expect(try decoder.next() == nil)
        try decoder.finish()
    }

    @Test func decodesOneByteAtATime() throws {
        var stream: [UInt8] = []
        for m in Self.samples { stream += encodeFrame(m) }
        var decoder = FrameDecoder()
        var decoded: [Message] = []
        for byte in stream {
            decoder.append([byte])
            while let m = try decoder.next() { decoded.append(m) }
        }
        #expect(decoded == Self.samples)
    }

    @Test func layoutIsBigEndianLengthTypeBody() {
        #expect(encodeFrame(.hello(version: 1)) == [0, 0, 0, 9, 0x01, 0x4B, 0x49, 0x4C, 0x4E, 0, 0, 0, 1])
        #expect(encodeFrame(.signal(15)) == [0, 0, 0, 5, 0x08, 0, 0, 0, 15])
    }

    @Test(arguments: [UInt32(0), FrameLimits.maxFrameLength + 1, .max])
    func rejectsBadLengthBeforeBuffering(_ length: UInt32) {
        var decoder = FrameDecoder()
        decoder.append([UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)])
        #expect(throws: ProtocolError.badFrameLength(length)) { try decoder.next() }
    }

    @Test func truncatedStreamIsAnError() throws {
        let frame = encodeFrame(.stdout(Array(repeating: 7, count: 100)))
        var decoder = FrameDecoder()
        decoder.append(Array(frame.prefix(50)))
        #expect(try decoder.next() == nil)
        #expect(throws: ProtocolError.truncatedFrame(have: 50, need: frame.count)) { try decoder.finish() }
        var header = FrameDecoder()
        header.append([0, 0])
        #expect(throws: ProtocolError.truncatedFrame(have: 2, need: 4)) { try header.finish() }
    }

    static let malformed: [(String, [UInt8])] = [
        ("unknown type", [0x7F]),
        ("hello magic", [0x01, 0, 0, 0, 0, 0, 0, 0, 1]),
        ("hello short", [0x01, 0x4B, 0x49]),
        ("trailing", [0x04, 0]),
        ("exit kind", [0x07, 2, 0, 0, 0, 0]),
        ("exit code range", [0x07, 0, 0, 0, 1, 0]),
        ("signal 0", [0x08, 0, 0, 0, 0]),
        ("signal 65", [0x08, 0, 0, 0, 65]),
        ("argv count huge", [0x02, 0xFF, 0xFF, 0xFF, 0xFF]),
        ("argv count over limit but bytes missing", [0x02, 0, 0, 0x10, 0x01]),
        ("argv empty", [0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("string length past end", [0x0A, 0, 0, 0, 9, 0x2F]),
        ("NUL in path", [0x0A, 0, 0, 0, 2, 0x2F, 0]),
        ("not UTF-8", [0x0A, 0, 0, 0, 2, 0x2F, 0xFF]),
        ("copy-in mode bits", [0x09, 0, 0, 0, 1, 0x2F, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("copy-in size missing", [0x09, 0, 0, 0, 1, 0x2F, 0, 0, 1, 0xA4, 0, 0]),
        ("restored nanoseconds of one second", [0x11, 0, 0, 0, 0, 0, 0, 0, 1, 0x3B, 0x9A, 0xCA, 0x00]),
        ("restored seconds past time_t", [0x11, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("restored short", [0x11, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
    ]

    @Test(arguments: malformed)
    func rejectsMalformedBodies(_ testCase: (String, [UInt8])) {
        #expect(throws: ProtocolError.self, "\(testCase.0)") { try FrameCodec.decode(frame: testCase.1) }
    }

    @Test func execRequiresFlagsAndEnvShape() {
        var w = ByteWriter()
        w.u8(0x02); w.stringList(["true"]); w.stringList(["NOEQUALS"]); w.string(""); w.u32(0); w.u32(0); w.u32(0)
        #expect(throws: ProtocolError.invalidField("exec.env entry without NAME=")) { try FrameCodec.decode(frame: w.bytes) }
        var f = ByteWriter()
        f.u8(0x02); f.stringList(["true"]); f.stringList([]); f.string(""); f.u32(0); f.u32(0); f.u32(2)
        #expect(throws: ProtocolError.invalidField("exec.flags 0x2")) { try FrameCodec.decode(frame: f.bytes) }
    }
}
