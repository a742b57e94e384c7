import AgentProtocol

/// How a command that reports a guest command's status ends: its exit code, and the one line it
/// prints on standard error first (nil: none; the command's own output says it all).
public struct CommandExit: Equatable, Sendable {
    public let code: Int32
    public let message: String?

    public init(code: Int32, message: String?) {
        self.code = code
        self.message = message
    }

    /// The command ran: its code, or 128 + N when signal N ended it.
    public static func ran(_ status: ExitStatus) -> CommandExit {
        CommandExit(code: status.shellCode, message: nil)
    }

    /// What `kiln run` knew when its job failed.
    public struct RunFailure: Sendable {
        /// --timeout was given, and whether its alarm fired (the VM was then killed).
        public var hasTimeout: Bool
        public var alarmFired: Bool
        /// Ctrl-Cs received: the second one kills the VM.
        public var interrupts: Int32
        /// Whether the agent had answered before the failure.
        public var agentAnswered: Bool
        /// How the VMM ended ("exit 1", "killed by signal 31 (seccomp)"), nil while it runs.
        public var vmmEnding: String?

        public init(hasTimeout: Bool, alarmFired: Bool, interrupts: Int32, agentAnswered: Bool, vmmEnding: String?) {
            self.hasTimeout = hasTimeout
            self.alarmFired = alarmFired
            self.interrupts = interrupts
            self.agentAnswered = agentAnswered
            self.vmmEnding = vmmEnding
        }
    }

    /// `kiln run`'s job failed: 124 for --timeout, 130 for a second Ctrl-C, 127/126 when the
    /// command could not be started, and 125 for kiln's own failures, the VMM's included.
    public static func run(_ error: SandboxError, _ failure: RunFailure) -> CommandExit {
        if failure.alarmFired || error.isTimeout && failure.hasTimeout {
            return CommandExit(code: CommandExitCode.timedOut, message: "kiln: timed out: the VM was ended")
        }
        if failure.interrupts > 1 {
            return CommandExit(code: CommandExitCode.interrupted, message: "kiln: interrupted: the VM was ended")
        }
        // A VMM gone before the agent answered explains whatever waiting for the agent hit (a
        // timeout when it gave up, a reset handshake): say that, not the symptom.
        if !failure.agentAnswered, let ending = failure.vmmEnding {
            return CommandExit(code: CommandExitCode.kilnFailure,
                               message: "kiln: error: the VMM ended (\(ending)) before the agent answered")
        }
        if let code = error.commandStartFailureCode {
            return CommandExit(code: code, message: "kiln: \(error)")
        }
        return CommandExit(code: CommandExitCode.kilnFailure,
                           message: "kiln: error: \(error)\(failure.vmmEnding.map { " (the VMM ended: \($0))" } ?? "")")
    }

    /// `kiln exec`'s job failed (the sandbox stays): 127/126 when the command could not be
    /// started, else 125.
    public static func exec(_ error: SandboxError) -> CommandExit {
        if let code = error.commandStartFailureCode { return CommandExit(code: code, message: "kiln: \(error)") }
        return CommandExit(code: CommandExitCode.kilnFailure, message: "kiln: error: \(error)")
    }

    /// `kiln exec --timeout` killed the command: 124, whatever the job reported.
    public static let execTimedOut = CommandExit(code: CommandExitCode.timedOut, message: "kiln: timed out: the command was killed")
}
