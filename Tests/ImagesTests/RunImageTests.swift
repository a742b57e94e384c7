import ChildProcessSupport
import Foundation
import Images
import Testing

/// How `kiln run` and `kiln create` find their image before any VM starts: without --image,
/// the store's default image or a one-line error naming it; with --image naming a registry
/// image the store lacks, a pull (here from a plain-HTTP registry, hence --tls-verify=false).
/// The kernel is a file of zeros, so no VM ever boots: what is checked is the store.
@Suite struct RunImageTests {
    let scratch = TestDirectory()

    func kiln(_ arguments: [String], store: String) throws -> ChildProcessResult {
        try KilnBinary.run(arguments, environment: [
            "KILN_IMAGE_STORE": store, "KILN_SANDBOX_ROOTFS": "", "KILN_VMLINUX": "", "KILN_AGENT_INITRD": "",
            "TMPDIR": scratch.path, "KILN_SANDBOX_DIR": scratch.path + "/sandboxes",
            "XDG_DATA_HOME": scratch.path + "/data", "XDG_RUNTIME_DIR": scratch.path + "/run",
        ], timeout: 120)
    }

    /// A kernel and an agent initramfs that exist, so only the image is missing.
    func fakeBootFiles() -> (kernel: String, initrd: String) {
        let kernel = scratch.path + "/vmlinux", initrd = scratch.path + "/agent-initrd.cpio"
        FileManager.default.createFile(atPath: kernel, contents: Data(count: 4096))
        FileManager.default.createFile(atPath: initrd, contents: Data(count: 4096))
        return (kernel, initrd)
    }

    @Test func noImageAndNoDefaultImageIsOneLine() throws {
        let boot = fakeBootFiles()
        let store = scratch.path + "/empty-store"
        for arguments in [["run", "--no-jail", "--kernel", boot.kernel, "--agent-initrd", boot.initrd, "--", "true"],
                          ["create", "--no-jail", "--name", "no-default", "--kernel", boot.kernel, "--agent-initrd", boot.initrd]] {
            let result = try kiln(arguments, store: store)
            #expect(result.status == 125 && result.stdout.isEmpty, "\(arguments): \(result)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            #expect(result.stderr.contains("kiln.local/default:latest") && result.stderr.contains("Rootfs/build-default-image.sh"),
                    "\(result.stderr)")
        }
        let left = StoreContents(store)
        #expect(left.images.isEmpty && left.refs.isEmpty && left.blobs.isEmpty, "\(left)")
    }

    @Test func runAndCreatePullAMissingImage() throws {
        let registry = try LocalRegistry(directory: scratch.path + "/registry")
        defer { registry.stop() }
        let layout = scratch.path + "/layout"
        let digests = try TestLayout(path: layout, layerFiles: [["a": "1"]], cmd: ["/a"]).write()
        let reference = "\(registry.address)/kiln/run:v1"
        let pushed = try ChildProcess.run("/usr/bin/skopeo", ["copy", "--dest-tls-verify=false", "oci:\(layout):v1",
                                                              "docker://" + reference], timeout: 60)
        #expect(pushed.status == 0, "\(pushed)")
        let boot = fakeBootFiles()
        for (index, command) in [["run"], ["create", "--name", "pulls"]].enumerated() {
            let store = "\(scratch.path)/store\(index)"
            let result = try kiln(command + ["--no-jail", "--kernel", boot.kernel, "--agent-initrd", boot.initrd,
                                             "--image", reference, "--tls-verify=false"] + (command == ["run"] ? ["--", "true"] : []),
                                  store: store)
            // The zero kernel does not boot: kiln's own failure, after the pull.
            #expect(result.status == 125, "\(command): \(result)")
            let image = ImageStore(root: store, converter: FakeConverter().converter).lookup(try ImageReference(parsing: reference))
            #expect(image?.id == digests.config, "\(command): the store lacks \(reference) after: \(result.stderr)")

            // Verifying TLS against the plain-HTTP registry: the pull fails, one line, nothing stored.
            let verifying = "\(scratch.path)/verifying\(index)"
            let refused = try kiln(command + ["--no-jail", "--kernel", boot.kernel, "--agent-initrd", boot.initrd,
                                              "--image", reference] + (command == ["run"] ? ["--", "true"] : []),
                                   store: verifying)
            #expect(refused.status == 125 && refused.stderr.split(separator: "\n").count == 1, "\(command): \(refused)")
            #expect(refused.stderr.contains("--image \(reference)"), "\(refused.stderr)")
            let left = StoreContents(verifying)
            #expect(left.images.isEmpty && left.refs.isEmpty && left.blobs.isEmpty, "\(left)")
        }
    }
}
