@testable import AgentCore
@testable import AgentProtocol
import Glibc
import Sandbox
import Testing

/// Encoding never traps (issue 14): the agent is PID 1, so a trap panics the guest, and the
/// host must report an oversized request instead of crashing.
@Suite struct EncodingLimitTests {
    @Test func anErrorTooLongForAFrameIsTruncatedAndStillDecodes() throws {
        let text = String(repeating: "é", count: 700_000)   // 1.4 MB of UTF-8
        let frame = try FrameCodec.encode(.error(code: 2, message: text))
        #expect(frame.count <= 4 + Int(FrameLimits.maxFrameLength))
        var decoder = FrameDecoder()
        decoder.append(frame)
        guard case .error(let code, let message) = try decoder.next() else {
            Issue.record("not an error frame")
            return
        }
        #expect(code == 2)
        #expect(message.hasSuffix(" [truncated]"))
        #expect(message.hasPrefix("ééé"))
    }

    @Test func anErrorThatFitsIsUnchanged() throws {
        let frame = try FrameCodec.encode(.error(code: 0, message: "short"))
        var decoder = FrameDecoder()
        decoder.append(frame)
        #expect(try decoder.next() == .error(code: 0, message: "short"))
    }

    @Test func anExecRequestOverAFrameIsRefusedNotTrapped() {
        let argv = ["echo"] + Array(repeating: String(repeating: "x", count: 100_000), count: 12)
        do {
            _ = try FrameCodec.encode(.exec(ExecRequest(argv: argv)))
            Issue.record("encoded a 1.2 MB exec request")
        } catch {
            guard case .frameTooLarge(let name, let bytes) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(name == "exec" && bytes > 1_200_000)
        }
    }

    @Test func anExecRequestWithTooManyEntriesIsRefused() {
        let env = (0...FrameLimits.maxListCount).map { "V\($0)=1" }
        #expect(throws: ProtocolError.self) {
            try FrameCodec.encode(.exec(ExecRequest(argv: ["true"], env: env)))
        }
    }

    @Test func dataChunksOverAFrameAreRefused() {
        let chunk = [UInt8](repeating: 0, count: Int(FrameLimits.maxFrameLength))
        #expect(throws: ProtocolError.frameTooLarge(message: "stdout", bytes: chunk.count + 1)) {
            try FrameCodec.encode(.stdout(chunk))
        }
    }

    /// The agent's own session answers an exec whose argv[0] is huge with an error, and goes on
    /// living: before the fix its error message ("cannot run <argv0>") trapped the encoder.
    @Test func theAgentSurvivesAnErrorMessageOverAFrame() throws {
        let h = AgentHarness()
        var channel = FrameChannel(fd: h.hostFD, deadline: MonotonicClock.now() + 30)
        try channel.send(.hello(version: 1))
        #expect(try channel.receive() == .hello(version: 1))
        // Each entry fits a frame; together with the agent's wording the error text would not.
        let name = "/nonexistent/" + String(repeating: "n", count: 1_000_000)
        try channel.send(.exec(ExecRequest(argv: [name])))
        guard case .error(_, let message) = try channel.receive() else {
            Issue.record("no error frame")
            return
        }
        #expect(message.utf8.count < Int(FrameLimits.maxFrameLength))
        _ = h.agentResult()
    }
}

@Suite struct AgentPeerPolicyTests {
    @Test func onlyTheHostCIDIsServed() {
        #expect(AgentPeerPolicy.hostCID == 2)
        #expect(AgentPeerPolicy.admits(peerCID: 2))
        for cid: UInt32 in [0, 1, 3, 4, 1000, .max - 1, .max] {
            #expect(!AgentPeerPolicy.admits(peerCID: cid), "CID \(cid)")
        }
    }
}

/// Deadlines on the host's side of a session (FrameChannel): a peer that never answers, or
/// trickles, cannot hold a reader past its deadline.
@Suite struct ChannelDeadlineTests {
    @Test func aSilentPeerTimesOutAtTheDeadline() throws {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let start = MonotonicClock.now()
        var channel = FrameChannel(fd: fds[0], deadline: start + 0.3)
        #expect(throws: ProtocolError.timedOut("waiting for the peer")) { _ = try channel.receive() }
        let elapsed = MonotonicClock.now() - start
        #expect(elapsed >= 0.25 && elapsed < 5)
    }

    @Test func aTricklingPeerCannotStretchTheDeadline() throws {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        defer { close(fds[0]) }
        let writer = fds[1]
        // One byte of a frame header every 100 ms until the reader is closed; the writer thread
        // owns (and closes) its end, so no descriptor number is used after the test let it go.
        startDetachedThread {
            var byte: UInt8 = 0
            while send(writer, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 { usleep(100_000) }
            close(writer)
        }
        let start = MonotonicClock.now()
        var channel = FrameChannel(fd: fds[0], deadline: start + 0.5, stallTimeout: 0.3)
        #expect(throws: ProtocolError.self) { _ = try channel.receive() }
        #expect(MonotonicClock.now() - start < 5)
    }

    @Test func aStallTimesOutBeforeTheDeadline() throws {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let start = MonotonicClock.now()
        var channel = FrameChannel(fd: fds[0], deadline: start + 60, stallTimeout: 0.2)
        #expect(throws: ProtocolError.timedOut("waiting for the peer")) { _ = try channel.receive() }
        #expect(MonotonicClock.now() - start < 5)
    }
}
