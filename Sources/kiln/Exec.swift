import ArgumentParser
import Glibc
import Sandbox

/// `kiln exec N -- CMD`: runs CMD in a sandbox made by `kiln create`, as `kiln run` would.
struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command in a sandbox made by `kiln create`.",
        discussion: """
            Output is streamed and the exit status is the command's (128+N for signal N, 127/126 \
            when it cannot be started, 125 when the sandbox fails). --timeout kills the command \
            and exits 124; the sandbox keeps running. The copies and the command share the \
            timeout: an agent that does not end the command within \(Self.killGrace) s of the kill \
            is given up on (exit 124 all the same). Ctrl-C is forwarded as SIGINT; a second one \
            leaves (exit 130) and the agent ends the command.
            """)

    @Argument(help: ArgumentHelp("The sandbox's name.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("Kill the command after this many seconds and exit 124.", valueName: "s"))
    var timeout: UInt32?

    @OptionGroup var sandbox: SandboxOptions

    /// How long after --timeout's kill the agent has to report the command's end.
    static let killGrace: Double = 5

    func run() throws {
        if let timeout, timeout == 0 { fail("--timeout must be at least 1 second") }
        // Bad options are reported before the sandbox is looked up (a --user name can only be
        // checked against the sandbox's image, later).
        var options = sandbox
        options.user = nil
        _ = options.job()
        let record = SandboxStore.current().lookup(name)
        guard record.state == .alive else { fail("sandbox \(name) is \(record.state), not running") }
        // A sandbox made with --image runs commands as its image says (Env, WorkingDir, User).
        let job = sandbox.job(image: ImageOptions.imageOfSandbox(record))
        for copy in job.copyIn where access(copy.source, R_OK) != 0 {
            fail("--copy-in \(copy.source): \(String(cString: strerror(errno)))")
        }
        ignoreOutputSignals()
        let limits = SessionLimits.within(timeout.map { Double($0) + Self.killGrace })
        var forward: [Int32] = [-1, -1]
        guard kiln_host_pipe(&forward) == 0 else { fail("pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(forward[1], F_SETFL, O_NONBLOCK)
        kiln_run_install_signal_handlers(forward[1], 0)
        if let timeout { alarm(timeout) }
        var exit: CommandExit
        do {
            exit = .ran(try job.run(endpoint: record.endpoint, signals: forward[0], limits: limits))
        } catch {
            exit = .exec(error)
        }
        if let message = exit.message { printError(message) }
        alarm(0)
        if kiln_run_timed_out() != 0 || limits.hasExpired {
            exit = .execTimedOut
            printError(exit.message ?? "")
        }
        throw ExitCode(exit.code)
    }
}
