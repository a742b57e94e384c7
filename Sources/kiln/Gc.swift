import ArgumentParser
import SandboxHost

/// `kiln gc`: removes what killed runs and dead sandboxes left behind.
struct Gc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove leftovers of killed runs and dead sandboxes.",
        discussion: "Removes kiln-run.* directories in $TMPDIR (else /tmp) that kiln's user made and whose kiln process is gone, and the state of sandboxes whose VM is no longer running, with the TAP devices they record (--net); a TAP still in use is left. Prints each path removed.")

    func run() throws {
        let (removed, failures) = Leftovers.collect(store: SandboxStore.current())
        for path in removed { print("removed \(path)") }
        failures.forEach(warn)
    }
}
