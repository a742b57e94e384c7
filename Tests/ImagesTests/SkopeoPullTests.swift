import ChildProcessSupport
import Foundation
@testable import Images
import Synchronization
import Testing

/// Real pulls through skopeo from local sources the tests build: an OCI layout, a
/// docker-archive made from it, blobs shared between images, and skopeo's errors.
@Suite struct SkopeoPullTests {
    let scratch = TestDirectory()
    var root: String { scratch.path + "/store" }

    func store(_ converter: FakeConverter) -> ImageStore { ImageStore(root: root, converter: converter.converter) }

    func inode(_ path: String) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int) ?? -1
    }

    @Test func pullsAnOCILayoutAndADockerArchiveOfIt() throws {
        let layoutPath = scratch.path + "/layout"
        let digests = try TestLayout(path: layoutPath, files: ["etc-hello": "hello\n"], env: ["A=1"], cmd: ["/bin/true"]).write()
        let converter = FakeConverter()
        var lines: [String] = []
        let fromLayout = try ImageReference(parsing: "oci:\(layoutPath):v1")
        let image = try store(converter).pull(fromLayout) { lines.append($0) }
        #expect(image.id == digests.config)
        #expect(image.config.env == ["A=1"])
        #expect(image.config.cmd == ["/bin/true"])
        #expect(lines.contains { $0.hasPrefix("Copying blob sha256:\(digests.layers[0])") }, "\(lines)")
        #expect(FileManager.default.fileExists(atPath: "\(root)/blobs/sha256/\(digests.layers[0])"))

        // docker save's format, made by skopeo from the layout. skopeo rewrites the config on the
        // way (so another image id), but the layer is the same blob.
        let archive = scratch.path + "/saved.tar"
        let made = try ChildProcess.run("/usr/bin/skopeo", ["copy", "oci:\(layoutPath):v1", "docker-archive:\(archive):test/saved:1"])
        #expect(made.status == 0, "\(made)")
        let layerInode = try inode("\(root)/blobs/sha256/\(digests.layers[0])")
        let fromArchive = try store(converter).pull(try ImageReference(parsing: "docker-archive:\(archive)"))
        #expect(fromArchive.names == ["docker-archive:\(archive)"])
        #expect(fromArchive.config.cmd == ["/bin/true"])
        #expect(fromArchive.storedNames.first?.tag == nil)
        #expect(store(converter).list().count == 2)
        // The layer already in the store was not written again.
        #expect(try inode("\(root)/blobs/sha256/\(digests.layers[0])") == layerInode)
        #expect(StoreContents(root).tmp.isEmpty)
    }

    /// `oci-archive:FILE:TAG`, a tarred OCI layout: the same manifest and config as the layout
    /// it was made from, so the same image (converted once, two names).
    @Test func pullsAnOCIArchive() throws {
        let layoutPath = scratch.path + "/layout"
        let digests = try TestLayout(path: layoutPath, files: ["etc-hello": "hello\n"], env: ["B=2"], cmd: ["/bin/sh"]).write()
        let archive = scratch.path + "/image.oci.tar"
        let made = try ChildProcess.run("/usr/bin/skopeo", ["copy", "oci:\(layoutPath):v1", "oci-archive:\(archive):v1"])
        #expect(made.status == 0, "\(made)")
        let converter = FakeConverter()
        let fromLayout = try store(converter).pull(try ImageReference(parsing: "oci:\(layoutPath):v1"))
        let fromArchive = try store(converter).pull(try ImageReference(parsing: "oci-archive:\(archive):v1"))
        #expect(fromArchive.id == digests.config && fromArchive.id == fromLayout.id)
        #expect(fromArchive.config.env == ["B=2"])
        #expect(converter.calls.load(ordering: .sequentiallyConsistent) == 1)
        #expect(Set(fromArchive.names) == ["oci:\(layoutPath):v1", "oci-archive:\(archive):v1"].reduce(into: Set<String>()) { set, name in
            set.insert((try? ImageReference(parsing: name).canonicalName) ?? name)
        })
        #expect(StoreContents(root).tmp.isEmpty)
    }

    /// Two images with a layer in common: the second pull does not rewrite (so did not fetch)
    /// the shared layer, and removing one image keeps what the other uses.
    @Test func sharedLayersAreStoredOnce() throws {
        let base = ["base": "shared\n"]
        let first = try TestLayout(path: scratch.path + "/one", layerFiles: [base], cmd: ["/one"]).write()
        let second = try TestLayout(path: scratch.path + "/two", layerFiles: [base, ["extra": "two\n"]], cmd: ["/two"]).write()
        #expect(first.layers[0] == second.layers[0])
        let converter = FakeConverter()
        let one = try store(converter).pull(try ImageReference(parsing: "oci:\(scratch.path)/one:v1"))
        let shared = "\(root)/blobs/sha256/\(first.layers[0])"
        let sharedInode = try inode(shared)
        let two = try store(converter).pull(try ImageReference(parsing: "oci:\(scratch.path)/two:v1"))
        #expect(one.id != two.id)
        #expect(try inode(shared) == sharedInode)
        #expect(converter.calls.load(ordering: .sequentiallyConsistent) == 2)

        let removed = try store(converter).remove(try ImageReference(parsing: "oci:\(scratch.path)/two:v1"))
        #expect(removed.contains("blob sha256:\(second.layers[1])"))
        #expect(!removed.contains("blob sha256:\(first.layers[0])"))
        #expect(FileManager.default.fileExists(atPath: shared))
        #expect(store(converter).lookup(try ImageReference(parsing: "oci:\(scratch.path)/one:v1")) != nil)
    }

    /// Two skopeo pulls of one image at once write the same shared blobs: one conversion, one
    /// image, both names.
    @Test func concurrentSkopeoPulls() throws {
        try TestLayout(path: scratch.path + "/layout", layerFiles: [["a": "1"], ["b": "2"]]).write()
        let converter = FakeConverter(delay: .milliseconds(200))
        let store = store(converter)
        let results = Mutex<[String]>([])
        for index in 0..<2 {
            Thread {
                let reference = try! ImageReference(parsing: "oci:\(scratch.path)/layout:v1")
                let result = Result { () throws(ImageError) in try store.pull(reference) }
                results.withLock { $0.append((try? result.get().id) ?? "failed: \(result)") }
            }.start()
        }
        while results.withLock({ $0.count }) < 2 { usleep(10_000) }
        let ids = results.withLock { $0 }
        #expect(Set(ids).count == 1, "\(ids)")
        #expect(converter.calls.load(ordering: .sequentiallyConsistent) == 1)
        let contents = StoreContents(root)
        #expect(contents.images.count == 1 && contents.refs.count == 1 && contents.tmp.isEmpty)
        #expect(contents.blobsVerify(root))
    }

    @Test func skopeoErrorsAreOneLineAndLeaveNothing() throws {
        let converter = FakeConverter()
        let cases: [(String, String)] = [
            ("127.0.0.1:1/nothing/here:v1", "pull 127.0.0.1:1/nothing/here:v1: "),
            ("oci:\(scratch.path)/missing:v1", "pull oci:\(scratch.path)/missing:v1: "),
        ]
        try TestLayout(path: scratch.path + "/layout", files: ["a": "b"]).write()
        let missingTag = ("oci:\(scratch.path)/layout:nosuchtag", "pull oci:\(scratch.path)/layout:nosuchtag: ")
        for (text, prefix) in cases + [missingTag] {
            do {
                _ = try store(converter).pull(try ImageReference(parsing: text), tlsVerify: false)
                Issue.record("\(text) pulled")
            } catch {
                #expect(error.description.hasPrefix(prefix), "\(error)")
                #expect(!error.description.contains("\n"))
                #expect(!error.description.contains("level=fatal"), "\(error)")
                print(error)
            }
        }
        let left = StoreContents(root)
        #expect(left.images.isEmpty && left.refs.isEmpty && left.tmp.isEmpty && left.blobs.isEmpty)
    }

    @Test func condensesSkopeoErrors() {
        let stderr = """
            time="2026-12-06T21:00:00Z" level=fatal msg="initializing source docker://127.0.0.1:1/x:v1: pinging container registry 127.0.0.1:1: Get \\"http://127.0.0.1:1/v2/\\": dial tcp 127.0.0.1:1: connect: connection refused"

            """
        #expect(SkopeoFetcher.condense(stderr, status: 1)
            == #"initializing source docker://127.0.0.1:1/x:v1: pinging container registry 127.0.0.1:1: Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused"#)
        #expect(SkopeoFetcher.condense("", status: 2) == "skopeo exited with status 2")
        #expect(SkopeoFetcher.condense("Error: something\n", status: 1) == "something")
    }
}
