import ArgumentParser
import Images
import OCIRuntime
import SandboxHost

/// `kiln gc`: removes what killed runs, dead sandboxes, failed pulls and dead kiln-oci creates left behind.
struct Gc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove leftovers of killed runs, dead sandboxes, failed pulls and kiln-oci containers whose create died.",
        discussion: "Removes kiln-run.* directories in $TMPDIR (else /tmp) that kiln's user made and whose kiln process is gone; the state of sandboxes whose VM is no longer running, with the TAP devices they record (--net; a TAP still in use is left); in the image store, what failed or killed pulls left (temporaries, blobs no image uses), unless a pull is running (images and their names stay: `kiln rmi` and `kiln image prune` remove those); and kiln-oci containers whose `create` died before it recorded them (state under --oci-root): their VMM, relay, TAP (in the container's network namespace), jail and state. A container kiln-oci finished creating is its engine's to delete, and is left. Prints each path removed.")

    @Option(help: ArgumentHelp("kiln-oci's state root (its --root).", valueName: "dir"))
    var ociRoot: String = ContainerStore.defaultRoot

    func run() throws {
        let (removed, failures) = Leftovers.collect(store: SandboxStore.current())
        for path in removed { print("removed \(path)") }
        failures.forEach(warn)
        let store = currentImageStore()
        do {
            let images = try store.removeLeftovers()
            for line in images.removed { print("removed image store \(line)") }
            if images.pullInProgress {
                printError("kiln: warning: a pull is using the image store \(store.layout.root): its leftovers are left for a later `kiln gc`")
            }
        } catch {
            printError("kiln: warning: image store: \(error); left for a later `kiln gc`")
        }
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
