import AgentProtocol
import Sandbox
import Testing

/// How `kiln run` and `kiln exec` turn the command's end, or the failure before it, into an
/// exit code and a line: the command's own code, 128+N for signal N, 124/130/127/126, and 125
/// for every failure of kiln's own.
@Suite struct CommandExitTests {
    static let notFound = SandboxError.agent(code: 2, message: "cannot run nosuch: No such file or directory")
    static let notExecutable = SandboxError.agent(code: 13, message: "cannot run /etc/passwd: Permission denied")
    static let broken = SandboxError.protocolError(.closedByPeer("before the exit status"))
    static let stalled = SandboxError.protocolError(.timedOut("reading a frame"))

    static func failure(hasTimeout: Bool = false, alarmFired: Bool = false, interrupts: Int32 = 0, agentAnswered: Bool = true,
                        vmmEnding: String? = nil) -> CommandExit.RunFailure {
        CommandExit.RunFailure(hasTimeout: hasTimeout, alarmFired: alarmFired, interrupts: interrupts,
                               agentAnswered: agentAnswered, vmmEnding: vmmEnding)
    }

    @Test(arguments: [(AgentProtocol.ExitStatus.exited(0), 0), (.exited(3), 3), (.exited(125), 125), (.signaled(9), 137), (.signaled(15), 143)] as [(AgentProtocol.ExitStatus, Int32)])
    func theCommandsStatusIsTheExitCode(status: AgentProtocol.ExitStatus, code: Int32) {
        #expect(CommandExit.ran(status) == CommandExit(code: code, message: nil))
    }

    @Test func runFailures() {
        #expect(CommandExit.run(Self.broken, Self.failure(hasTimeout: true, alarmFired: true, vmmEnding: "killed by signal 9"))
                == CommandExit(code: 124, message: "kiln: timed out: the VM was ended"))
        // A stalled session counts as the timeout only when --timeout was given.
        #expect(CommandExit.run(Self.stalled, Self.failure(hasTimeout: true)).code == 124)
        #expect(CommandExit.run(Self.stalled, Self.failure()).code == 125)
        #expect(CommandExit.run(Self.broken, Self.failure(interrupts: 2, vmmEnding: "killed by kiln run"))
                == CommandExit(code: 130, message: "kiln: interrupted: the VM was ended"))
        #expect(CommandExit.run(Self.broken, Self.failure(interrupts: 1)).code == 125)
        // The VMM ended before the agent answered: that is the reason given, whatever the symptom.
        #expect(CommandExit.run(Self.stalled, Self.failure(agentAnswered: false, vmmEnding: "killed by signal 31 (seccomp)"))
                == CommandExit(code: 125, message: "kiln: error: the VMM ended (killed by signal 31 (seccomp)) before the agent answered"))
        #expect(CommandExit.run(Self.notFound, Self.failure())
                == CommandExit(code: 127, message: "kiln: agent: cannot run nosuch: No such file or directory"))
        #expect(CommandExit.run(Self.notExecutable, Self.failure()).code == 126)
        #expect(CommandExit.run(Self.broken, Self.failure())
                == CommandExit(code: 125, message: "kiln: error: agent protocol: peer closed the stream before the exit status"))
        #expect(CommandExit.run(Self.broken, Self.failure(vmmEnding: "exit 1"))
                == CommandExit(code: 125, message: "kiln: error: agent protocol: peer closed the stream before the exit status (the VMM ended: exit 1)"))
        #expect(CommandExit.run(.local(operation: "connect", errno: 111), Self.failure(agentAnswered: false)).code == 125)
    }

    @Test func execFailures() {
        #expect(CommandExit.exec(Self.notFound) == CommandExit(code: 127, message: "kiln: agent: cannot run nosuch: No such file or directory"))
        #expect(CommandExit.exec(Self.notExecutable).code == 126)
        #expect(CommandExit.exec(Self.broken).code == 125)
        #expect(CommandExit.exec(Self.broken).message?.hasPrefix("kiln: error: ") == true)
        #expect(CommandExit.execTimedOut == CommandExit(code: 124, message: "kiln: timed out: the command was killed"))
        // An agent error that is not a failed start is kiln's failure, not the command's.
        #expect(SandboxError.agent(code: 2, message: "copy in /x: No such file or directory").commandStartFailureCode == nil)
    }
}
