import AgentProtocol
import ArgumentParser
import Glibc
import Sandbox

/// Runs a command through the agent of a VM that is already running (tests and debugging; the
/// harness uses it against QEMU's vhost-vsock). `kiln run` is the normal way.
struct AgentExec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-exec",
        abstract: "Run a command through the kiln-agent of a running VM.",
        shouldDisplay: false)

    @Option(help: ArgumentHelp("Guest CID, reached through the host's vsock (vhost-vsock).", valueName: "cid"))
    var cid: UInt32?

    @Option(help: ArgumentHelp("The VMM's hybrid vsock Unix socket.", valueName: "path"))
    var uds: String?

    @Option(help: ArgumentHelp("Seconds to wait for the agent to answer.", valueName: "s"))
    var wait: Double = 0

    @Option(help: ArgumentHelp("Give up on the agent after this many seconds in all (exit 124).", valueName: "s"))
    var timeout: Double?

    @Flag(help: "Power the VM off through the agent afterwards.")
    var powerOff = false

    @OptionGroup var sandbox: SandboxOptions

    func run() throws {
        let endpoint: AgentEndpoint
        switch (cid, uds) {
        case (let cid?, nil): endpoint = .vsock(cid: cid)
        case (nil, let uds?): endpoint = .hybridVsock(udsPath: uds)
        default: fail("agent-exec needs exactly one of --cid and --uds")
        }
        let job = sandbox.job()
        if let timeout, !(timeout > 0) { fail("--timeout must be more than 0 seconds") }
        ignoreOutputSignals()
        var code: Int32
        do {
            if wait > 0 { try SandboxJob.waitForAgent(endpoint: endpoint, deadline: monotonicNow() + wait) { false } }
            code = try job.run(endpoint: endpoint, signals: nil, limits: .within(timeout)).shellCode
        } catch {
            printError("kiln: error: \(error)")
            code = error.isTimeout && timeout != nil ? CommandExitCode.timedOut
                : error.commandStartFailureCode ?? CommandExitCode.kilnFailure
        }
        if powerOff { try? SandboxJob.powerOff(endpoint: endpoint) }
        throw ExitCode(code)
    }
}
