import ArgumentParser
import Images
import SandboxHost

/// `kiln gc`: removes what killed runs, dead sandboxes and failed pulls left behind.
struct Gc: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove leftovers of killed runs, dead sandboxes and failed pulls.",
        discussion: "Removes kiln-run.* directories in $TMPDIR (else /tmp) that kiln's user made and whose kiln process is gone; the state of sandboxes whose VM is no longer running, with the TAP devices they record (--net; a TAP still in use is left); and in the image store, what failed or killed pulls left (temporaries, blobs no image uses), unless a pull is running. Images and their names stay: `kiln rmi` and `kiln image prune` remove those. Prints each path removed.")

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
    }
}
