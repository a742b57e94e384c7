import ChildProcessSupport
import Foundation
import Glibc
import Images
import Testing

/// Pulls that fail part-way through for reasons outside kiln: a registry that drops the
/// connection in the middle of a blob, and an image store whose filesystem is full. Each ends
/// in a one-line error (exit 125 from `kiln pull`), leaves no image a later run would use and
/// nothing `kiln gc` does not remove, and the same pull succeeds once the fault is gone.
@Suite(.serialized) struct PullFaultTests {
    /// A layout whose first layer is 4 MiB (so half of it is a real mid-blob cut) and a small one.
    static func bigLayout(_ path: String) throws -> (manifest: String, config: String, layers: [String]) {
        let big = String(repeating: "0123456789abcdef", count: 1 << 18)
        return try TestLayout(path: path, layerFiles: [["big": big], ["small": "x"]], cmd: ["/big"]).write()
    }

    static func pullWithKiln(_ reference: String, store: String, extra: [String] = []) throws -> ChildProcessResult {
        try ChildProcess.run(try KilnBinary.require(), ["pull", reference] + extra, timeout: 120,
                             environment: ["KILN_IMAGE_STORE": store])
    }

    static func expectOneLineFailure(_ result: ChildProcessResult, naming reference: String,
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = result.stderr.split(separator: "\n")
        #expect(result.reason == .exit && result.status == 125 && lines.count == 1
                    && lines.first?.hasPrefix("kiln: ") == true && result.stderr.contains(reference),
                "\(result)", sourceLocation: sourceLocation)
    }

    /// `scratch`/store on a tmpfs of its own (the caller unmounts it).
    static func storeOnTmpfs(_ scratch: TestDirectory, options: String) throws -> String {
        let root = scratch.path + "/store"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        guard mount("tmpfs", root, "tmpfs", 0, options) == 0 else {
            throw RegistryError(description: "mounting a tmpfs on \(root) (needs root): errno \(errno)")
        }
        return root
    }

    /// Nothing in the store names an image, no pull's temporaries are left, and each blob left
    /// is intact (a later pull may reuse it); after `kiln gc` nothing at all.
    static func expectNothingUsable(_ root: String, _ reference: ImageReference,
                                    sourceLocation: SourceLocation = #_sourceLocation) throws {
        let store = ImageStore(root: root, converter: FakeConverter().converter)
        #expect(store.lookup(reference) == nil && store.list().isEmpty, sourceLocation: sourceLocation)
        let left = StoreContents(root)
        #expect(left.images.isEmpty && left.refs.isEmpty && left.tmp.isEmpty && left.blobsVerify(root), "\(left)",
                sourceLocation: sourceLocation)
        try collectGarbage(store: root, sourceLocation: sourceLocation)
        let collected = StoreContents(root)
        #expect(collected.images.isEmpty && collected.refs.isEmpty && collected.tmp.isEmpty && collected.blobs.isEmpty,
                "\(collected)", sourceLocation: sourceLocation)
    }

    /// Runs `kiln gc` on the store `root` (its run and sandbox directories in a scratch place of
    /// their own), again while it says a pull holds the store (a killed pull's orphaned skopeo
    /// finishing), for up to 60 s.
    static func collectGarbage(store root: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let scratch = TestDirectory()
        let environment = ["KILN_IMAGE_STORE": root, "TMPDIR": scratch.path, "KILN_SANDBOX_DIR": scratch.path + "/sandboxes"]
        for _ in 0..<600 {
            let result = try ChildProcess.run(try KilnBinary.require(), ["gc", "--oci-root", scratch.path + "/oci"],
                                              timeout: 60, environment: environment)
            #expect(result.reason == .exit && result.status == 0, "\(result)", sourceLocation: sourceLocation)
            guard result.stderr.contains("a pull is using the image store") else { return }
            usleep(100_000)
        }
        Issue.record("kiln gc found the image store in use by a pull for 60 s", sourceLocation: sourceLocation)
    }

    @Test
    func aRegistryDroppingTheConnectionMidBlobFailsCleanlyThenPulls() throws {
        let scratch = TestDirectory()
        let digests = try Self.bigLayout(scratch.path + "/layout")
        let registry = try DroppingRegistry(layout: scratch.path + "/layout", dropDigest: digests.layers[0])
        defer { registry.stop() }
        let name = "\(registry.address)/kiln/test:v1"
        let reference = try ImageReference(parsing: name)
        let root = scratch.path + "/store"

        let failed = try Self.pullWithKiln(name, store: root, extra: ["--tls-verify", "false"])
        Self.expectOneLineFailure(failed, naming: name)
        #expect(registry.drops.load(ordering: .sequentiallyConsistent) > 0, "the registry never cut the blob: \(failed)")
        try Self.expectNothingUsable(root, reference)

        // The registry works again: the same pull succeeds.
        registry.dropping.store(false, ordering: .sequentiallyConsistent)
        let store = ImageStore(root: root, converter: FakeConverter().converter)
        let image = try store.pull(reference, tlsVerify: false)
        #expect(image.id == digests.config && image.config.cmd == ["/big"])
    }

    @Test
    func aFullImageStoreFailsCleanlyThenPullsOnceThereIsRoom() throws {
        let scratch = TestDirectory()
        let digests = try Self.bigLayout(scratch.path + "/layout")
        // 2 MiB: the store's directories fit, the 4 MiB layer does not.
        let root = try Self.storeOnTmpfs(scratch, options: "size=2m,mode=0700")
        defer { umount2(root, Int32(MNT_DETACH)) }
        let name = "oci:\(scratch.path)/layout:v1"
        let reference = try ImageReference(parsing: name)

        let failed = try Self.pullWithKiln(name, store: root)
        Self.expectOneLineFailure(failed, naming: name)
        try Self.expectNothingUsable(root, reference)

        // Room made (the filesystem grown): the same pull succeeds.
        guard mount("tmpfs", root, "tmpfs", UInt(MS_REMOUNT), "size=64m,mode=0700") == 0 else {
            throw RegistryError(description: "remounting \(root) larger: errno \(errno)")
        }
        let store = ImageStore(root: root, converter: FakeConverter().converter)
        let image = try store.pull(reference)
        #expect(image.id == digests.config)
    }

    /// A store this process may only read (here a read-only mount; for a user, the system-wide
    /// store) still runs its images; a pull into it is one line saying so and changes nothing.
    @Test
    func aReadOnlyStoreRunsItsImagesAndRefusesPullsInOneLine() throws {
        let scratch = TestDirectory()
        let digests = try Self.bigLayout(scratch.path + "/layout")
        let root = try Self.storeOnTmpfs(scratch, options: "size=64m,mode=0755")
        defer { umount2(root, Int32(MNT_DETACH)) }
        let name = "oci:\(scratch.path)/layout:v1"
        let reference = try ImageReference(parsing: name)
        let store = ImageStore(root: root, converter: FakeConverter().converter)
        let image = try store.pull(reference)
        guard mount("tmpfs", root, "tmpfs", UInt(MS_REMOUNT | MS_RDONLY), "size=64m,mode=0755") == 0 else {
            throw RegistryError(description: "remounting \(root) read-only: errno \(errno)")
        }
        #expect(store.lookup(reference)?.id == digests.config)
        #expect(store.lookup(reference)?.rootfsPath == image.rootfsPath)
        #expect(throws: ImageError.storeNotWritable(root: root, errno: EROFS)) { try store.pull(reference) }

        let failed = try Self.pullWithKiln(name, store: root)
        Self.expectOneLineFailure(failed, naming: root)
        #expect(failed.stderr.contains("not writable"), "\(failed.stderr)")
    }
}
