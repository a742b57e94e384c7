import ArgumentParser
import Glibc
import Sandbox
import SandboxHost

/// `kiln rm NAME...`: powers sandboxes off through their agent and removes their state.
struct Rm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Stop sandboxes and remove their state.",
        discussion: "Asks the agent to power the VM off, kills the VMM if it has not ended after --grace seconds, then removes the state directory and the sandbox's TAP (--net). A dead sandbox's state is just removed.")

    @Argument(help: ArgumentHelp("Sandbox names.", valueName: "name"))
    var names: [String] = []

    @Option(help: ArgumentHelp("Seconds to wait for the power-off before killing the VMM.", valueName: "s"))
    var grace: Double = 10

    func run() throws {
        guard !names.isEmpty else { fail("rm: no sandbox named; give at least one NAME") }
        guard grace >= 0 else { fail("--grace \(grace): must not be negative") }
        let store = SandboxStore.current()
        let records = names.map(store.lookup)   // every name checked before anything is stopped
        for record in records {
            if let vmm = record.vmm, vmm.isAlive {
                stop(vmm, endpoint: record.endpoint)
                if vmm.isAlive { fail("sandbox \(record.name): VMM \(vmm.pid) survived SIGKILL") }
            }
            try store.remove(record)
        }
    }

    private func stop(_ vmm: ProcessIdentity, endpoint: AgentEndpoint) {
        let deadline = monotonicNow() + grace
        if grace > 0 { try? SandboxJob.powerOff(endpoint: endpoint, timeout: grace) }
        while vmm.isAlive && monotonicNow() < deadline { usleep(10_000) }
        guard vmm.isAlive else { return }
        kill(vmm.pid, SIGKILL)
        let killed = monotonicNow() + 5
        while vmm.isAlive && monotonicNow() < killed { usleep(10_000) }
    }
}
