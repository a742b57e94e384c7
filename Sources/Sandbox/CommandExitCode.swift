/// The exit codes of the commands that report a guest command's status (`kiln run`, `exec`,
/// `agent-exec`), as a shell and `docker run` give them: a command's own code cannot be mistaken
/// for one of kiln's.
public enum CommandExitCode {
    /// kiln itself failed (bad options, the sandbox, the VMM, the agent): never a command's.
    public static let kilnFailure: Int32 = 125
    /// --timeout ended the command or the VM.
    public static let timedOut: Int32 = 124
    /// A second Ctrl-C ended the VM (128 + SIGINT).
    public static let interrupted: Int32 = 130
    /// The command could not be started: not found (127), or found but not runnable (126).
    public static let notFound: Int32 = 127
    public static let cannotRun: Int32 = 126
}

extension SandboxError {
    /// 127 (not found) or 126 (any other reason) when the agent could not start the command,
    /// as a shell reports it; nil for every other failure.
    public var commandStartFailureCode: Int32? {
        guard case .agent(let code, let message) = self, message.hasPrefix("cannot run ") else { return nil }
        return code == 2 ? CommandExitCode.notFound : CommandExitCode.cannotRun
    }
}
