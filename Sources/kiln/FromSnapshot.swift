import Glibc
import Images
import Sandbox
import SandboxHost
import SandboxImages

/// `kiln run --from DIR` and `kiln create --from DIR`: the sandbox comes from a snapshot
/// (`kiln snapshot`), which fixes its image, disks, vCPUs and memory.
enum FromSnapshot {
    /// Options the snapshot decides; given with --from they are refused by name.
    static let fixedOptions = ["--cpus", "--memory", "--rootfs", "--kernel", "--agent-initrd", "--disk-size", "--net",
                               "-v", "--volume", "--image", "--entrypoint", "--tls-verify"]

    /// The snapshot in `directory`, checked (record, files, root disk unchanged, image still in
    /// the store), or a one-line error naming the problem.
    static func load(_ directory: String, command: String) -> (snapshot: SandboxSnapshot, image: StoredImage?) {
        for argument in CommandLine.arguments.dropFirst().prefix(while: { $0 != "--" }) {
            for option in fixedOptions where argument == option || argument.hasPrefix(option + "=") {
                fail("\(command) --from: \(option) cannot be given: the snapshot fixes it")
            }
        }
        let snapshot: SandboxSnapshot
        do { snapshot = try SandboxSnapshot.load(directory) } catch { fail("\(error)") }
        do {
            let image = try SandboxImageChoice.imageOfSnapshot(directory, imageID: snapshot.imageID, imageName: snapshot.imageName,
                                                               rootfs: snapshot.rootfs, from: currentImageStore())
            return (snapshot, image)
        } catch {
            fail("\(error)")
        }
    }

    /// Waits for the restored guest's agent, telling it it was restored (it sets the clock).
    static func waitAndAnnounce(_ vmm: VMMProcess, deadline: Double, givesUp: () -> Bool) throws(SandboxError) {
        try SandboxJob.waitForAgent(endpoint: vmm.endpoint, deadline: deadline, announcingRestore: true, givesUp: givesUp)
    }

    /// The `config` lines of a sandbox restored from `snapshot` in `directory` (so it can be
    /// snapshotted again, and `kiln exec` applies its image's settings).
    static func configText(_ snapshot: SandboxSnapshot, from directory: String) -> String {
        "rootfs=\(snapshot.rootfs)\ncpus=\(snapshot.cpus)\nmemory=\(snapshot.memoryMiB)\nfrom=\(directory)\n"
            + (snapshot.imageID.map { "image-id=\($0)\n" } ?? "") + (snapshot.imageName.map { "image=\($0)\n" } ?? "")
            + (snapshot.scratchDisk ? "disk-size=snapshot\n" : "")
    }
}
