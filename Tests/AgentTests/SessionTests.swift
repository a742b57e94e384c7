import AgentCore
import AgentProtocol
import Glibc
import Sandbox
import Testing

/// Agent session code and host client over a socketpair, with real child processes.
@Suite struct ExecSessionTests {
    @Test(arguments: [Int32(0), 1, 42])
    func exitCodeComesBack(_ code: Int32) throws {
        let r = try runThroughAgent(ExecRequest(argv: ["/bin/sh", "-c", "exit \(code)"]))
        #expect(r.status == .exited(code))
        #expect(r.status.shellCode == code)
    }

    @Test func signalDeathIsReportedAs128PlusN() throws {
        let r = try runThroughAgent(ExecRequest(argv: ["/bin/sh", "-c", "kill -TERM $$; sleep 5"]))
        #expect(r.status == .signaled(SIGTERM))
        #expect(r.status.shellCode == 128 + SIGTERM)
    }

    @Test func stdoutAndStderrStaySeparateAndInOrder() throws {
        let script = "i=0; while [ $i -lt 500 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done"
        let r = try runThroughAgent(ExecRequest(argv: ["/bin/sh", "-c", script]))
        #expect(r.status == .exited(0))
        let expectedOut = (0..<500).map { "out\($0)\n" }.joined()
        let expectedErr = (0..<500).map { "err\($0)\n" }.joined()
        #expect(String(decoding: r.out, as: UTF8.self) == expectedOut)
        #expect(String(decoding: r.err, as: UTF8.self) == expectedErr)
    }

    @Test func tenMiBOfOutputArrivesIntact() throws {
        let scratch = Scratch()
        let data = randomBytes(10 << 20)
        writeFile(scratch.file("big"), data)
        let r = try runThroughAgent(ExecRequest(argv: ["cat", scratch.file("big")]))
        #expect(r.status == .exited(0))
        #expect(r.out.count == data.count)
        #expect(r.out == data)
        #expect(r.err.isEmpty)
    }

    @Test func stdinIsPipedThrough() throws {
        let scratch = Scratch()
        let data = randomBytes(3 << 20 + 17)
        writeFile(scratch.file("input"), data)
        let input = open(scratch.file("input"), O_RDONLY | O_CLOEXEC)
        defer { close(input) }
        let r = try runThroughAgent(ExecRequest(argv: ["cat"], stdin: true), stdin: input)
        #expect(r.status == .exited(0))
        #expect(r.out == data)
    }

    @Test func withoutStdinTheCommandReadsEOF() throws {
        let r = try runThroughAgent(ExecRequest(argv: ["wc", "-c"]))
        #expect(r.status == .exited(0))
        #expect(String(decoding: r.out, as: UTF8.self).trimmingSpaces == "0")
    }

    @Test func envAndWorkingDirectoryApply() throws {
        let scratch = Scratch()
        let r = try runThroughAgent(ExecRequest(argv: ["/bin/sh", "-c", "echo \"$GREETING|$(pwd)|${HOME-unset}\""],
                                                env: ["GREETING=hello world", "PATH=/usr/bin:/bin"], cwd: scratch.path))
        #expect(r.status == .exited(0))
        #expect(String(decoding: r.out, as: UTF8.self) == "hello world|\(scratch.path)|unset\n")
    }

    @Test func uidAndGidApply() throws {
        // Needs root to switch users, as the agent is in the guest; CI and these machines run as root.
        try #require(geteuid() == 0, "switching uid needs root; this test cannot run as uid \(geteuid())")
        let r = try runThroughAgent(ExecRequest(argv: ["/bin/sh", "-c", "echo $(id -u):$(id -g)"], uid: 65534, gid: 65533))
        #expect(String(decoding: r.out, as: UTF8.self) == "65534:65533\n")
    }

    @Test func commandThatCannotStartIsAnAgentError() throws {
        let harness = AgentHarness()
        let scratch = Scratch()
        let out = Capture(scratch, "o")
        #expect(throws: SandboxError.agent(code: UInt32(ENOENT), message: "cannot run no-such-command-kiln: No such file or directory (errno 2)")) {
            _ = try AgentClient(fd: harness.hostFD).run(ExecRequest(argv: ["no-such-command-kiln"]), stdout: out.fd, stderr: out.fd)
        }
        #expect(harness.agentResult() == .spawn(command: "no-such-command-kiln", errno: ENOENT))
    }

    @Test func missingWorkingDirectoryIsAnAgentError() throws {
        let harness = AgentHarness()
        let scratch = Scratch()
        let out = Capture(scratch, "o")
        #expect(throws: SandboxError.self) {
            _ = try AgentClient(fd: harness.hostFD).run(ExecRequest(argv: ["true"], cwd: "/nonexistent-kiln"), stdout: out.fd, stderr: out.fd)
        }
        #expect(harness.agentResult() == .spawn(command: "true", errno: ENOENT))
    }

    @Test func forwardedSignalReachesTheCommand() throws {
        var pipeFDs: [Int32] = [-1, -1]
        #expect(pipe(&pipeFDs) == 0)
        defer { close(pipeFDs[0]); close(pipeFDs[1]) }
        // Queued before the run: the client forwards it once the command has been requested.
        var number = UInt8(SIGINT)
        #expect(write(pipeFDs[1], &number, 1) == 1)
        let r = try runThroughAgent(ExecRequest(argv: ["sleep", "30"]), signals: pipeFDs[0])
        #expect(r.status == .signaled(SIGINT))
    }

    @Test func sessionsRunConcurrently() throws {
        // A slow command in one session must not hold up another.
        let slow = AgentHarness()
        let slowClient = try AgentClient(fd: slow.hostFD)
        try FrameChannel(fd: slow.hostFD).send(.exec(ExecRequest(argv: ["sleep", "2"])))
        _ = consume slowClient
        let started = monotonicSeconds()
        let quick = try runThroughAgent(ExecRequest(argv: ["echo", "quick"]))
        #expect(quick.out == Array("quick\n".utf8))
        #expect(monotonicSeconds() - started < 1.5)
        var channel = FrameChannel(fd: slow.hostFD)
        #expect(try channel.receive() == .exit(.exited(0)))
        #expect(slow.agentResult() == nil)
    }

    @Test func hostClosingMidCommandEndsTheSessionAndTheCommand() throws {
        let harness = AgentHarness()
        _ = try AgentClient(fd: harness.hostFD)
        let scratch = Scratch()
        let marker = scratch.file("pid")
        try FrameChannel(fd: harness.hostFD).send(.exec(ExecRequest(argv: ["/bin/sh", "-c", "echo $$ > \(marker); exec sleep 30"])))
        var pid: pid_t = 0
        for _ in 0..<200 where pid == 0 {
            if let text = readFile(marker), let p = Int32(String(decoding: text, as: UTF8.self).trimmingSpaces) { pid = p }
            else { usleep(10_000) }
        }
        try #require(pid > 0)
        shutdown(harness.hostFD, Int32(SHUT_RDWR))
        #expect(harness.agentResult() == .protocolError(.closedByPeer("while the command was running")))
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "the command outlived its session")
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}

@Suite struct StdinEdgeTests {
    @Test func commandClosingItsStdinEarlyIsNotAnError() throws {
        let scratch = Scratch()
        writeFile(scratch.file("input"), randomBytes(4 << 20))
        let input = open(scratch.file("input"), O_RDONLY | O_CLOEXEC)
        defer { close(input) }
        let r = try runThroughAgent(ExecRequest(argv: ["head", "-c", "10"], stdin: true), stdin: input)
        #expect(r.status == .exited(0))
        #expect(r.out.count == 10)
    }

    @Test func stdinDataWithoutStdinIsRefused() throws {
        let h = AgentHarness()
        _ = try AgentClient(fd: h.hostFD)
        let channel = FrameChannel(fd: h.hostFD)
        try channel.send(.exec(ExecRequest(argv: ["sleep", "30"])))
        try channel.send(.stdinData([1]))
        #expect(h.agentResult() == .protocolError(.unexpectedMessage("stdin-data for a command without stdin")))
    }

    @Test func stdinDataAfterCloseIsRefused() throws {
        let h = AgentHarness()
        _ = try AgentClient(fd: h.hostFD)
        let channel = FrameChannel(fd: h.hostFD)
        try channel.send(.exec(ExecRequest(argv: ["sleep", "30"], stdin: true)))
        try channel.send(.stdinClose)
        try channel.send(.stdinData([1]))
        #expect(h.agentResult() == .protocolError(.unexpectedMessage("stdin-data after stdin-close")))
    }
}
