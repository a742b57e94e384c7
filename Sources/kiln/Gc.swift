import ArgumentParser

/// `kiln gc`: removes what killed runs and dead sandboxes left behind.
struct Gc: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove leftovers of killed runs and dead sandboxes.",
        discussion: "Removes /tmp/kiln-run.* directories whose kiln process is gone and the state of sandboxes whose VM is no longer running, with the TAP devices they record (--net). Prints each path removed.")

    func run() throws {
        for path in Leftovers.collect(store: SandboxStore.current()) { print("removed \(path)") }
    }
}
