import ArgumentParser
import OCIRuntime
import SandboxHost

/// `kiln gc`: removes what killed runs and dead sandboxes left behind.
struct Gc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove leftovers of killed runs and dead sandboxes.",
        discussion: "Removes kiln-run.* directories in $TMPDIR (else /tmp) that kiln's user made and whose kiln process is gone, and the state of sandboxes whose VM is no longer running, with the TAP devices they record (--net); a TAP still in use is left. Also removes kiln-oci containers whose `create` died before it recorded them (state under --oci-root): their VMM, relay, TAP (in the container's network namespace), jail and state. A container kiln-oci finished creating is its engine's to delete, and is left. Prints each path removed.")

    @Option(help: ArgumentHelp("kiln-oci's state root (its --root).", valueName: "dir"))
    var ociRoot: String = ContainerStore.defaultRoot

    func run() throws {
        let (removed, failures) = Leftovers.collect(store: SandboxStore.current())
        for path in removed { print("removed \(path)") }
        failures.forEach(warn)
        for container in ContainerStore(root: ociRoot).abandoned() {
            do {
                try ContainerTeardown.remove(container)
                print("removed \(container.directory.path)")
            } catch {
                printError("kiln: warning: \(error); left for `kiln gc`")
            }
        }
    }
}
