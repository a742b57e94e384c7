import ArgumentParser
import Sandbox
import SandboxHost

/// `kiln snapshot NAME DIR`: a Full snapshot of a running sandbox, which `kiln run --from DIR`
/// and `kiln create --from DIR` start from.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Snapshot a sandbox made by `kiln create` into a new directory.",
        discussion: """
            The sandbox is paused, its VMM writes a Full snapshot (guest memory, vCPU and device \
            state), its scratch disk (--disk-size) is copied while it is paused, and it resumes. \
            DIR (made mode 0700; it must not exist) then holds snapshot.state, snapshot.mem (sparse), \
            the scratch disk if any, and `sandbox`, the record of the image the sandbox runs (its root \
            disk stays in the image store, read-only, and must be unchanged when a snapshot is \
            restored). `kiln run --from DIR -- CMD` and `kiln create --from DIR` start from it: \
            the guest's files, processes and page cache as they were, the guest clock set from the host. \
            A sandbox with -v shares or --net cannot be snapshotted.
            """)

    @Argument(help: ArgumentHelp("The sandbox's name.", valueName: "name"))
    var name: String

    @Argument(help: ArgumentHelp("The new snapshot directory.", valueName: "dir"))
    var directory: String

    func run() throws {
        guard !directory.isEmpty else { fail("snapshot: the directory is empty") }
        let record = SandboxStore.current().lookup(name)
        do {
            _ = try SandboxSnapshot.take(of: record, into: directory)
        } catch {
            fail("snapshot of sandbox \(name): \(error)")
        }
        print(directory)
    }
}
