import ArgumentParser
import Glibc
import OCIRuntime
import Sandbox
import SandboxHost

/// `kill [--all] ID [SIGNAL]`: the signal goes to the relay, which forwards it to the process
/// in the guest (SIGKILL ends the relay; its closed session makes the agent kill the process).
/// Before `start` the relay keeps default signal actions, as runc's waiting init does.
struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a signal to the container's process (default SIGTERM).")

    @ParentCommand var global: KilnOCI

    @Flag(name: [.customLong("all"), .customShort("a")], help: "Signal the exec'd processes too.")
    var all = false

    @Argument(help: ArgumentHelp("The container id.", valueName: "id")) var id: String
    @Argument(help: ArgumentHelp("Signal name (TERM, SIGTERM) or number.", valueName: "signal")) var signal: String = "SIGTERM"

    func run() throws {
        guard let number = SignalName.parse(signal) else { throw OCIRuntimeError.failed("invalid signal \"\(signal)\"") }
        let container = try global.store.load(id)
        guard let record = container.record, container.status != .stopped, container.status != .creating else {
            throw OCIRuntimeError.state("container not running")
        }
        var targets = [record.relay]
        if all { targets += container.execRelays() }
        for target in targets where target.isAlive {
            guard Glibc.kill(target.pid, number) == 0 || errno == ESRCH else {
                throw OCIRuntimeError.system(operation: "kill", path: "pid \(target.pid)", errno: errno)
            }
        }
    }
}

/// `delete [--force] ID`: ends the VM and removes the container's state (its TAP and jail too;
/// with --force also what a killed `create` left, from its CreationJournal).
struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a container (its VM and state).")

    @ParentCommand var global: KilnOCI

    @Flag(name: [.customLong("force"), .customShort("f")], help: "Kill a running container first.")
    var force = false

    @Argument(help: ArgumentHelp("The container id.", valueName: "id")) var id: String

    func run() throws {
        let loaded: Container?
        do {
            loaded = try global.store.load(id)
        } catch {
            guard case .notFound = error, force else { throw error }
            loaded = nil   // runc: --force on a missing container succeeds
        }
        guard let container = loaded else { return }
        let status = container.status
        if (status == .running || status == .paused) && !force {
            throw OCIRuntimeError.state("cannot delete container \(id) that is not stopped: \(status.rawValue)")
        }
        if status == .creating && !force && !container.isAbandoned {
            throw OCIRuntimeError.state("cannot delete container \(id) while it is being created")
        }
        try ContainerTeardown.remove(container)
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var text = self
        while let last = text.last, last == "\n" || last == " " { text.removeLast() }
        return text
    }
}
