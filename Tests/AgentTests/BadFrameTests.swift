import AgentCore
import AgentProtocol
import Dispatch
import Glibc
import Sandbox
import Testing

/// Hostile or broken input from either side ends that session with an error: never a crash,
/// never a hang, and the other sessions go on.
@Suite struct BadFramesFromTheHost {
    func sendRaw(_ fd: Int32, _ bytes: [UInt8]) {
        #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count)
    }

    @Test func hugeLengthPrefix() throws {
        let h = AgentHarness()
        sendRaw(h.hostFD, [0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(h.agentResult() == .protocolError(.badFrameLength(.max)))
        var channel = FrameChannel(fd: h.hostFD)
        guard case .error(0, let text)? = try channel.receive() else { Issue.record("no error message"); return }
        #expect(text.contains("bad frame length"))
    }

    @Test func truncatedHello() throws {
        let h = AgentHarness()
        sendRaw(h.hostFD, Array(encodeFrame(.hello(version: 1)).prefix(7)))
        shutdown(h.hostFD, Int32(SHUT_WR))
        #expect(h.agentResult() == .protocolError(.truncatedFrame(have: 7, need: 13)))
    }

    @Test func wrongVersion() throws {
        let h = AgentHarness()
        sendRaw(h.hostFD, encodeFrame(.hello(version: 2)))
        #expect(h.agentResult() == .protocolError(.badHello("version 2, agent speaks 1")))
    }

    @Test func requestBeforeHello() throws {
        let h = AgentHarness()
        sendRaw(h.hostFD, encodeFrame(.exec(ExecRequest(argv: ["true"]))))
        #expect(h.agentResult() == .protocolError(.unexpectedMessage("exec before hello")))
    }

    @Test func unknownTypeAfterHello() throws {
        let h = AgentHarness()
        _ = try AgentClient(fd: h.hostFD)
        sendRaw(h.hostFD, [0, 0, 0, 1, 0x99])
        #expect(h.agentResult() == .protocolError(.unknownMessageType(0x99)))
    }

    @Test func agentOnlyMessageAsRequest() throws {
        let h = AgentHarness()
        _ = try AgentClient(fd: h.hostFD)
        sendRaw(h.hostFD, encodeFrame(.stdout([1])))
        #expect(h.agentResult() == .protocolError(.unexpectedMessage("stdout as a request")))
    }

    @Test func garbageWhileACommandRunsKillsOnlyThatCommand() throws {
        let h = AgentHarness()
        _ = try AgentClient(fd: h.hostFD)
        sendRaw(h.hostFD, encodeFrame(.exec(ExecRequest(argv: ["sleep", "30"], stdin: true))))
        sendRaw(h.hostFD, [0, 0, 0, 6, 0x08, 0, 0, 0, 2, 0xAA])  // signal with a trailing byte
        #expect(h.agentResult() == .protocolError(.trailingBytes(type: 0x08, count: 1)))
        // And the agent serves the next session as before.
        let r = try runThroughAgent(ExecRequest(argv: ["echo", "still here"]))
        #expect(r.out == Array("still here\n".utf8))
    }

    @Test func emptyConnectionIsNotAnError() {
        let h = AgentHarness()
        shutdown(h.hostFD, Int32(SHUT_WR))
        #expect(h.agentResult() == .protocolError(.closedByPeer("before hello")))
    }
}

/// A fake agent on the other end of a socketpair that answers with crafted bytes.
final class FakeAgent: Sendable {
    let hostFD: Int32
    /// `readsHello: false` never reads what the host sends and closes 200 ms after replying:
    /// with host bytes unread, the close resets the stream (ECONNRESET at the host).
    init(reply: [UInt8], closeAfter: Bool = true, readsHello: Bool = true) {
        var fds: [Int32] = [-1, -1]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        hostFD = fds[0]
        let agent = fds[1]
        DispatchQueue.global().async {
            // Reads the hello, answers with the crafted reply, then drains until the host closes.
            var buffer = [UInt8](repeating: 0, count: 4096)
            if readsHello { _ = buffer.withUnsafeMutableBytes { read(agent, $0.baseAddress, $0.count) } }
            _ = reply.withUnsafeBytes { send(agent, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if !readsHello { usleep(200_000) }
            if closeAfter { close(agent); return }
            while buffer.withUnsafeMutableBytes({ read(agent, $0.baseAddress, $0.count) }) > 0 {}
            close(agent)
        }
    }
    deinit { close(hostFD) }
}

@Suite struct BadFramesFromTheAgent {
    static let hello = encodeFrame(.hello(version: 1))

    @Test func badMagic() {
        let fake = FakeAgent(reply: [0, 0, 0, 9, 0x01, 0, 0, 0, 0, 0, 0, 0, 1])
        #expect(throws: SandboxError.protocolError(.badHello("magic 0x0"))) { _ = try AgentClient(fd: fake.hostFD) }
    }

    @Test func otherVersion() {
        let fake = FakeAgent(reply: encodeFrame(.hello(version: 7)))
        #expect(throws: SandboxError.protocolError(.badHello("agent speaks version 7, host 1"))) {
            _ = try AgentClient(fd: fake.hostFD)
        }
    }

    @Test func silentAgentThatCloses() {
        let fake = FakeAgent(reply: [])
        #expect(throws: SandboxError.protocolError(.closedByPeer("during hello"))) { _ = try AgentClient(fd: fake.hostFD) }
    }

    func runAgainst(_ reply: [UInt8]) throws -> AgentProtocol.ExitStatus {
        let fake = FakeAgent(reply: Self.hello + reply)
        let scratch = Scratch()
        let out = Capture(scratch, "o")
        let client = try AgentClient(fd: fake.hostFD)
        return try client.run(ExecRequest(argv: ["x"]), stdout: out.fd, stderr: out.fd)
    }

    @Test func truncatedStdoutFrame() {
        let frame = encodeFrame(.stdout(Array(repeating: 1, count: 50)))
        #expect(throws: SandboxError.protocolError(.truncatedFrame(have: 20, need: frame.count))) {
            _ = try runAgainst(Array(frame.prefix(20)))
        }
    }

    @Test func resetAfterATruncatedFrameIsReportedAsTruncation() throws {
        let frame = encodeFrame(.stdout(Array(repeating: 1, count: 50)))
        let fake = FakeAgent(reply: Self.hello + Array(frame.prefix(20)), readsHello: false)
        let scratch = Scratch()
        let out = Capture(scratch, "o")
        #expect(throws: SandboxError.protocolError(.truncatedFrame(have: 20, need: frame.count))) {
            _ = try AgentClient(fd: fake.hostFD).run(ExecRequest(argv: ["x"]), stdout: out.fd, stderr: out.fd)
        }
    }

    @Test func oversizedFrame() {
        #expect(throws: SandboxError.protocolError(.badFrameLength(0x0200_0000))) {
            _ = try runAgainst([2, 0, 0, 0, 0x05])
        }
    }

    @Test func streamEndsWithoutExit() {
        #expect(throws: SandboxError.protocolError(.closedByPeer("before the command's exit status"))) {
            _ = try runAgainst(encodeFrame(.stdout([65])))
        }
    }

    @Test func hostOnlyMessageFromAgent() {
        #expect(throws: SandboxError.protocolError(.unexpectedMessage("exec while a command runs"))) {
            _ = try runAgainst(encodeFrame(.exec(ExecRequest(argv: ["y"]))))
        }
    }

    @Test func badExitFrame() {
        #expect(throws: SandboxError.protocolError(.invalidField("exit kind 9 value 0"))) {
            _ = try runAgainst([0, 0, 0, 6, 0x07, 9, 0, 0, 0, 0])
        }
    }

    @Test func copyOutLongerThanAnnounced() throws {
        let reply = Self.hello + encodeFrame(.fileInfo(mode: 0o644, size: 2)) + encodeFrame(.fileData([1, 2, 3]))
        let fake = FakeAgent(reply: reply)
        let scratch = Scratch()
        #expect(throws: SandboxError.protocolError(.invalidField("copy-out data exceeds the announced 2 bytes"))) {
            try AgentClient(fd: fake.hostFD).copyOut(source: "/x", destination: scratch.file("x"))
        }
    }
}
