import ChildProcessSupport
import Foundation
import Images
import Synchronization
import Testing

/// A scratch directory for one test, removed at the end.
final class TestDirectory: Sendable {
    let path: String

    init() {
        var template = Array("/tmp/kiln-images-tests.XXXXXX".utf8CString)
        path = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    }

    deinit { _ = try? FileManager.default.removeItem(atPath: path) }
}

func sha256(_ data: Data) -> String {
    // The tests check the library's hashing against coreutils, not against itself.
    let file = NSTemporaryDirectory() + "/kiln-sha-\(UUID().uuidString)"
    FileManager.default.createFile(atPath: file, contents: data)
    defer { try? FileManager.default.removeItem(atPath: file) }
    let result = try! ChildProcess.run("/usr/bin/sha256sum", [file])
    return String(result.stdout.prefix(64))
}

/// An OCI image layout the test writes by hand: blobs, a manifest, index.json tagged `tag`.
struct TestLayout {
    let path: String
    var layers: [(mediaType: String, data: Data)]
    var config: Data
    var configMediaType = "application/vnd.oci.image.config.v1+json"
    var tag = "v1"

    /// A layout of one uncompressed tar layer (a real tar, so skopeo can turn it into a
    /// docker-archive) holding `files`.
    init(path: String, files: [String: String], env: [String] = ["PATH=/bin"], cmd: [String] = ["/bin/sh"]) throws {
        try self.init(path: path, layerFiles: [files], env: env, cmd: cmd)
    }

    init(path: String, layerFiles: [[String: String]], env: [String] = ["PATH=/bin"], cmd: [String] = ["/bin/sh"]) throws {
        self.path = path
        layers = try layerFiles.map { ("application/vnd.oci.image.layer.v1.tar", try Self.tar($0)) }
        config = Self.config(diffIDs: layers.map { sha256($0.data) }, env: env, cmd: cmd)
    }

    static func config(diffIDs: [String], env: [String], cmd: [String], architecture: String = "amd64") -> Data {
        let object: [String: Any] = [
            "architecture": architecture, "os": "linux",
            "config": ["Env": env, "Cmd": cmd, "WorkingDir": "/"],
            "rootfs": ["type": "layers", "diff_ids": diffIDs.map { "sha256:" + $0 }],
        ]
        return try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    static func tar(_ files: [String: String]) throws -> Data {
        let directory = TestDirectory()
        for (name, text) in files {
            FileManager.default.createFile(atPath: directory.path + "/" + name, contents: Data(text.utf8))
        }
        let out = directory.path + ".tar"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try ChildProcess.run("/bin/tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C", directory.path,
                                                       "-cf", out] + files.keys.sorted())
        #expect(result.status == 0, "\(result)")
        return try Data(contentsOf: URL(fileURLWithPath: out))
    }

    /// Writes the layout; `mangle` may change a blob's bytes after its digest was taken.
    @discardableResult
    func write(mangle: (String, inout Data) -> Void = { _, _ in }) throws -> (manifest: String, config: String, layers: [String]) {
        try FileManager.default.createDirectory(atPath: path + "/blobs/sha256", withIntermediateDirectories: true)
        func put(_ data: Data) throws -> String {
            let digest = sha256(data)
            var bytes = data
            mangle(digest, &bytes)
            try bytes.write(to: URL(fileURLWithPath: "\(path)/blobs/sha256/\(digest)"))
            return digest
        }
        let configDigest = try put(config)
        var layerDigests: [String] = []
        var layerDescriptors: [[String: Any]] = []
        for layer in layers {
            let digest = try put(layer.data)
            layerDigests.append(digest)
            layerDescriptors.append(["mediaType": layer.mediaType, "digest": "sha256:" + digest, "size": layer.data.count])
        }
        let manifest = try JSONSerialization.data(withJSONObject: [
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": ["mediaType": configMediaType, "digest": "sha256:" + configDigest, "size": config.count],
            "layers": layerDescriptors,
        ] as [String: Any], options: [.sortedKeys])
        let manifestDigest = try put(manifest)
        let index = try JSONSerialization.data(withJSONObject: [
            "schemaVersion": 2,
            "manifests": [["mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + manifestDigest,
                           "size": manifest.count, "annotations": ["org.opencontainers.image.ref.name": tag]]],
        ] as [String: Any], options: [.sortedKeys])
        try index.write(to: URL(fileURLWithPath: path + "/index.json"))
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: path + "/oci-layout"))
        return (manifestDigest, configDigest, layerDigests)
    }
}

/// Stands in for skopeo: copies a test layout's blobs into the store's shared blob directory
/// and its index.json (retagged as the store asks) into the pull's layout, without checking
/// anything, so the store's own verification is what is tested.
struct CopyingFetcher: ImageFetcher {
    let source: String
    /// The tag the source layout is asked for; the source index's entry is renamed only when
    /// this is its tag (so a missing tag stays missing).
    let sourceTag: String

    func fetch(_ reference: ImageReference, tlsVerify: Bool, layout: String, tag: String, sharedBlobs: String,
               heldLock: Int32, progress: (String) -> Void) throws(ImageError) {
        do {
            let files = FileManager.default
            try files.createDirectory(atPath: layout, withIntermediateDirectories: true)
            try files.createDirectory(atPath: sharedBlobs + "/sha256", withIntermediateDirectories: true)
            for blob in try files.contentsOfDirectory(atPath: source + "/blobs/sha256") {
                let target = sharedBlobs + "/sha256/" + blob
                // As skopeo: a blob already there is reused, a new one written aside and renamed in.
                if files.fileExists(atPath: target) { continue }
                let aside = sharedBlobs + "/sha256/copy-\(UUID().uuidString)"
                try files.copyItem(atPath: source + "/blobs/sha256/" + blob, toPath: aside)
                guard rename(aside, target) == 0 else { throw CocoaError(.fileWriteUnknown) }
            }
            let index = try String(contentsOfFile: source + "/index.json", encoding: .utf8)
                .replacingOccurrences(of: "\"org.opencontainers.image.ref.name\":\"\(sourceTag)\"",
                                      with: "\"org.opencontainers.image.ref.name\":\"\(tag)\"")
            try index.write(toFile: layout + "/index.json", atomically: true, encoding: .utf8)
            progress("copied")
        } catch {
            throw .fetchFailed(reference: reference.canonicalName, problem: "\(error)")
        }
    }
}

/// The converter double: writes the layer digests into the output file, counting calls; an
/// optional delay widens the window two concurrent pulls race in.
final class FakeConverter: Sendable {
    let calls = Atomic<Int>(0)
    let delay: Duration
    let failure: String?

    init(delay: Duration = .zero, failure: String? = nil) {
        self.delay = delay
        self.failure = failure
    }

    var converter: RootfsConverter {
        { [self] layers, output in
            calls.add(1, ordering: .sequentiallyConsistent)
            if delay > .zero { Thread.sleep(forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18) }
            precondition(!FileManager.default.fileExists(atPath: output), "the output exists already")
            for layer in layers { precondition(FileManager.default.fileExists(atPath: layer.path)) }
            if let failure {
                FileManager.default.createFile(atPath: output, contents: Data("half".utf8))
                throw FakeConversionError(description: failure)
            }
            let text = layers.map { "\($0.digest) \($0.mediaType)" }.joined(separator: "\n")
            guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8)) else {
                throw FakeConversionError(description: "cannot write \(output)")
            }
        }
    }
}

struct FakeConversionError: Error, CustomStringConvertible {
    let description: String
}

/// What a store directory holds, for "nothing left behind" checks.
struct StoreContents: Equatable {
    let images: [String]
    let refs: [String]
    let tmp: [String]
    let blobs: [String]

    init(_ root: String) {
        func list(_ path: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: root + path)) ?? []).sorted() }
        images = list("/images")
        refs = list("/refs")
        tmp = list("/tmp")
        blobs = list("/blobs/sha256")
    }

    /// Every blob left is intact: its name is its sha256, so a later pull may reuse it.
    func blobsVerify(_ root: String) -> Bool {
        blobs.allSatisfy { name in
            guard let data = FileManager.default.contents(atPath: root + "/blobs/sha256/" + name) else { return false }
            return sha256(data) == name
        }
    }
}

/// The `kiln` executable built next to this test bundle. A test that needs it fails (naming the
/// path) when it is missing: CI builds it, so a skip would hide a broken setup.
enum KilnBinary {
    static var path: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("kiln").path
    }

    static func require() throws -> String {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw MissingPrerequisite(description: "no kiln binary at \(path): build it with `swift build` before the tests")
        }
        return path
    }

    static func run(_ arguments: [String], environment: [String: String], timeout: TimeInterval) throws -> ChildProcessResult {
        try ChildProcess.run(try require(), arguments, timeout: timeout, environment: environment)
    }
}

/// A Debian tool a test needs. CI installs it (scripts/packages.txt): missing, the test fails
/// saying which package to install rather than skip.
func requiredTool(_ path: String, package: String) throws -> String {
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw MissingPrerequisite(description: "\(path) missing: apt-get install -y \(package) (scripts/packages.txt)")
    }
    return path
}

struct MissingPrerequisite: Error, CustomStringConvertible {
    let description: String
}
