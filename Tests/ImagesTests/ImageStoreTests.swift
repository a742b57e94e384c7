import Foundation
import Images
import Synchronization
import Testing

/// The store with the fetch replaced by a copy of a layout the test wrote: verification,
/// layout of the store, names, conversion once, locks and leftovers.
@Suite struct ImageStoreTests {
    let scratch = TestDirectory()
    var root: String { scratch.path + "/store" }
    var source: String { scratch.path + "/layout" }
    let reference = try! ImageReference(parsing: "oci:/test/layout:v1")

    func store(_ converter: FakeConverter, sourceTag: String = "v1") -> ImageStore {
        ImageStore(root: root, converter: converter.converter, fetcher: CopyingFetcher(source: source, sourceTag: sourceTag))
    }

    @Test func pullsVerifiesConvertsAndNames() throws {
        let layout = try TestLayout(path: source, files: ["hello": "hi\n"])
        let digests = try layout.write()
        let converter = FakeConverter()
        var lines: [String] = []
        let image = try store(converter).pull(reference) { lines.append($0) }
        #expect(image.id == digests.config)
        #expect(image.names == ["oci:/test/layout:v1"])
        #expect(image.rootfsPath == "\(root)/images/\(digests.config)/rootfs.ext4")
        #expect(image.config.cmd == ["/bin/sh"])
        #expect(image.manifestDigest?.hex == digests.manifest)
        #expect(lines.contains("copied"))
        let rootfs = try String(contentsOfFile: image.rootfsPath, encoding: .utf8)
        #expect(rootfs == "sha256:\(digests.layers[0]) application/vnd.oci.image.layer.v1.tar")
        let mode = try FileManager.default.attributesOfItem(atPath: image.rootfsPath)[.posixPermissions] as? Int
        #expect(mode == 0o444)
        #expect(FileManager.default.contents(atPath: "\(root)/images/\(image.id)/config.json") == layout.config)
        #expect(StoreContents(root).tmp.isEmpty)

        // A second name for the same image: no second conversion.
        let other = try ImageReference(parsing: "oci:/elsewhere:v1")
        let again = try store(converter).pull(other)
        #expect(again.id == image.id)
        #expect(converter.calls.load(ordering: .sequentiallyConsistent) == 1)
        let listed = store(converter).list()
        #expect(listed.count == 1)
        #expect(listed.first?.names == ["oci:/elsewhere:v1", "oci:/test/layout:v1"])
        #expect(store(converter).lookup(reference)?.id == image.id)
        #expect(store(converter).lookup(try ImageReference(parsing: "oci:/nope")) == nil)

        // rmi drops one name; the image and its blobs go with the last.
        #expect(try store(converter).remove(other) == ["name oci:/elsewhere:v1"])
        #expect(store(converter).lookup(reference) != nil)
        let removed = try store(converter).remove(reference)
        #expect(removed.contains("image \(image.id)"))
        #expect(removed.contains("blob sha256:\(digests.layers[0])"))
        let left = StoreContents(root)
        #expect(left.images.isEmpty && left.refs.isEmpty && left.blobs.isEmpty)
        #expect(throws: ImageError.notInStore(reference: "oci:/test/layout:v1")) { try store(converter).remove(reference) }
    }

    /// Each bad layout gives its own one-line error and leaves no image, name or temporary,
    /// and no blob that does not match its name.
    @Test(arguments: ["digest", "truncated", "mediaType", "configMediaType", "tag", "conversion"])
    func badLayoutsLeaveNothing(problem: String) throws {
        var layout = try TestLayout(path: source, files: ["a": "1"])
        var sourceTag = "v1"
        var converter = FakeConverter()
        var mangledDigest = ""
        switch problem {
        case "mediaType": layout.layers[0].mediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar"
        case "configMediaType": layout.configMediaType = "application/vnd.unknown.config.v1+json"
        case "tag": sourceTag = "v2"
        case "conversion": converter = FakeConverter(failure: "disk full")
        default: break
        }
        let digests = try layout.write { digest, bytes in
            guard digest == sha256(layout.layers[0].data) else { return }
            mangledDigest = digest
            if problem == "digest" { bytes[bytes.startIndex] ^= 0xff }
            if problem == "truncated" { bytes = bytes.prefix(100) }
        }
        let layerDigest = Digest(hex: digests.layers[0])!
        let expected: String
        switch problem {
        case "digest":
            let actual = sha256({ var d = layout.layers[0].data; d[d.startIndex] ^= 0xff; return d }())
            expected = "pull oci:/test/layout:v1: blob \(layerDigest) has digest sha256:\(actual) (deleted; pull again)"
        case "truncated":
            expected = "pull oci:/test/layout:v1: blob \(layerDigest) has 100 bytes, expected \(layout.layers[0].data.count) (deleted; pull again)"
        case "mediaType":
            expected = "pull oci:/test/layout:v1: unsupported media type \"application/vnd.oci.image.layer.nondistributable.v1.tar\""
        case "configMediaType":
            expected = "pull oci:/test/layout:v1: unsupported media type \"application/vnd.unknown.config.v1+json\""
        case "tag":
            expected = "pull oci:/test/layout:v1: the image has no tag \"kiln\""
        default:
            expected = "convert oci:/test/layout:v1: disk full"
        }
        do {
            _ = try store(converter, sourceTag: sourceTag).pull(reference)
            Issue.record("the pull succeeded")
        } catch {
            #expect(error.description == expected)
        }
        let left = StoreContents(root)
        #expect(left.images.isEmpty)
        #expect(left.refs.isEmpty)
        #expect(left.tmp.isEmpty)
        #expect(left.blobsVerify(root))
        if problem == "digest" || problem == "truncated" { #expect(!left.blobs.contains(mangledDigest)) }
        #expect(store(converter).lookup(reference) == nil)
        #expect(store(converter).list().isEmpty)

        // With the layout repaired, the next pull works and re-fetches what was deleted.
        try FileManager.default.removeItem(atPath: source)
        try TestLayout(path: source, files: ["a": "1"]).write()
        let image = try store(FakeConverter()).pull(reference)
        #expect(FileManager.default.fileExists(atPath: image.rootfsPath))
    }

    @Test func aProgressingConverterReportsThroughThePull() throws {
        try TestLayout(path: source, layerFiles: [["a": "1"], ["b": "2"]]).write()
        let converter = FakeConverter()
        let store = ImageStore(root: root, progressingConverter: { layers, output, progress in
            progress("converter saw \(layers.count) layers")
            try converter.converter(layers, output)
        }, fetcher: CopyingFetcher(source: source, sourceTag: "v1"))
        var lines: [String] = []
        _ = try store.pull(reference) { lines.append($0) }
        #expect(lines == ["copied", "Converting 2 layers to a root filesystem", "converter saw 2 layers"], "\(lines)")
    }

    @Test func concurrentPullsConvertOnce() throws {
        try TestLayout(path: source, files: ["x": "y"]).write()
        let converter = FakeConverter(delay: .milliseconds(300))
        let store = store(converter)
        let results = Mutex<[String]>([])
        let threads = (0..<4).map { index in
            Thread {
                let name = try! ImageReference(parsing: "oci:/test/layout:n\(index)")
                let result = Result { () throws(ImageError) in try store.pull(name) }
                results.withLock { $0.append((try? result.get().id) ?? "failed: \(result)") }
            }
        }
        threads.forEach { $0.start() }
        while results.withLock({ $0.count }) < 4 { usleep(10_000) }
        let ids = results.withLock { $0 }
        #expect(Set(ids).count == 1, "\(ids)")
        #expect(converter.calls.load(ordering: .sequentiallyConsistent) == 1)
        let contents = StoreContents(root)
        #expect(contents.images.count == 1)
        #expect(contents.refs.count == 4)
        #expect(contents.tmp.isEmpty)
        #expect(contents.blobsVerify(root))
    }

    /// A pull killed midway leaves its temporary directory, skopeo's half-written blob and
    /// perhaps an image directory moved aside: none is used by the next pull, prune removes them.
    @Test func leftoversOfAKilledPullAreIgnoredAndPruned() throws {
        let digests = try TestLayout(path: source, files: ["k": "v"]).write()
        let converter = FakeConverter()
        try FileManager.default.createDirectory(atPath: root + "/tmp/pull.1.2.3/image", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: root + "/tmp/pull.1.2.3/image/rootfs.ext4", contents: Data("stale".utf8))
        try FileManager.default.createDirectory(atPath: root + "/blobs/sha256", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: root + "/blobs/sha256/oci-put-blob123", contents: Data("partial".utf8))
        // An image directory without its rootfs (a conversion never renames one in: damage).
        try FileManager.default.createDirectory(atPath: root + "/images/\(digests.config)", withIntermediateDirectories: true)

        let image = try store(converter).pull(reference)
        #expect(converter.calls.load(ordering: .sequentiallyConsistent) == 1)
        #expect(try String(contentsOfFile: image.rootfsPath, encoding: .utf8) != "stale")

        // An unnamed image and an unused blob, besides the leftovers.
        try FileManager.default.createDirectory(atPath: root + "/images/" + String(repeating: "0", count: 64), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: root + "/blobs/sha256/" + String(repeating: "1", count: 64), contents: Data())
        let removed = try store(converter).prune()
        #expect(removed.contains("temporary pull.1.2.3"))
        #expect(removed.contains("temporary blobs/sha256/oci-put-blob123"))
        #expect(removed.contains("image " + String(repeating: "0", count: 64)))
        #expect(removed.contains("blob sha256:" + String(repeating: "1", count: 64)))
        let left = StoreContents(root)
        #expect(left.images == [image.id])
        #expect(left.tmp.isEmpty)
        #expect(left.blobs.sorted() == ([digests.manifest, digests.config] + digests.layers).sorted())
        #expect(store(converter).lookup(reference)?.id == image.id)
        #expect(try store(converter).prune().isEmpty)
    }

    /// `kiln gc`'s part: what dead pulls left goes (temporaries, blobs no image uses); images,
    /// unnamed ones included, and names stay; while a pull holds the store, nothing is touched.
    @Test func leftoversOfFailedPullsGoWithoutTouchingImages() throws {
        let digests = try TestLayout(path: source, files: ["k": "v"]).write()
        let converter = FakeConverter()
        #expect(try store(converter).removeLeftovers() == ImageStoreLeftovers(), "a store that does not exist")
        let image = try store(converter).pull(reference)
        let unnamed = String(repeating: "0", count: 64)
        let unused = String(repeating: "1", count: 64)
        try FileManager.default.createDirectory(atPath: root + "/tmp/pull.4.5.6/layout", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: root + "/blobs/sha256/oci-put-blob456", contents: Data("partial".utf8))
        FileManager.default.createFile(atPath: root + "/blobs/sha256/" + unused, contents: Data())
        try FileManager.default.createDirectory(atPath: root + "/images/" + unnamed, withIntermediateDirectories: true)
        let before = StoreContents(root)

        // A pull in progress (another descriptor holds pulls.lock shared, as a pull does).
        let pull = open(root + "/pulls.lock", O_RDWR | O_CLOEXEC)
        #expect(pull >= 0 && flock(pull, LOCK_SH) == 0)
        #expect(try store(converter).removeLeftovers() == ImageStoreLeftovers(pullInProgress: true))
        #expect(StoreContents(root) == before)
        close(pull)

        let leftovers = try store(converter).removeLeftovers()
        #expect(!leftovers.pullInProgress)
        #expect(Set(leftovers.removed) == ["temporary pull.4.5.6", "temporary blobs/sha256/oci-put-blob456",
                                           "blob sha256:" + unused], "\(leftovers.removed)")
        let left = StoreContents(root)
        #expect(left.images == [image.id, unnamed].sorted())
        #expect(left.refs == before.refs && left.tmp.isEmpty)
        #expect(left.blobs.sorted() == ([digests.manifest, digests.config] + digests.layers).sorted())
        #expect(store(converter).lookup(reference)?.id == image.id)
        #expect(try store(converter).removeLeftovers().removed.isEmpty)
    }

    @Test func storeRoot() {
        #expect(StoreLayout.defaultRoot(environment: { ["KILN_IMAGE_STORE": "/s", "HOME": "/h"][$0] }, isRoot: true) == "/s")
        #expect(StoreLayout.defaultRoot(environment: { ["HOME": "/h"][$0] }, isRoot: true) == "/var/lib/kiln/images")
        #expect(StoreLayout.defaultRoot(environment: { ["XDG_DATA_HOME": "/d", "HOME": "/h"][$0] }, isRoot: false) == "/d/kiln/images")
        #expect(StoreLayout.defaultRoot(environment: { ["HOME": "/h"][$0] }, isRoot: false) == "/h/.local/share/kiln/images")
    }
}
