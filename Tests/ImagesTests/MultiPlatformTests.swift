import Foundation
@testable import Images
import Testing

/// A multi-platform image (an OCI image index, as `python:3.12-slim` is on Docker Hub) resolves
/// to its linux/amd64 manifest, whichever order the index lists the platforms in; an index
/// without linux/amd64 is refused naming the reference.
@Suite struct MultiPlatformTests {
    let scratch = TestDirectory()
    var root: String { scratch.path + "/store" }

    /// Writes a layout whose tag names an image index of one manifest per architecture in
    /// `architectures` (each image's Cmd is `/ARCH`).
    func writeIndex(_ path: String, architectures: [String]) throws {
        try FileManager.default.createDirectory(atPath: path + "/blobs/sha256", withIntermediateDirectories: true)
        func put(_ data: Data) throws -> String {
            let digest = sha256(data)
            try data.write(to: URL(fileURLWithPath: "\(path)/blobs/sha256/\(digest)"))
            return digest
        }
        var manifests: [[String: Any]] = []
        for architecture in architectures {
            let layer = try TestLayout.tar(["arch": architecture + "\n"])
            let layerDigest = try put(layer)
            let config = TestLayout.config(diffIDs: [sha256(layer)], env: ["ARCH=\(architecture)"], cmd: ["/\(architecture)"],
                                           architecture: architecture)
            let configDigest = try put(config)
            let manifest = try JSONSerialization.data(withJSONObject: [
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": ["mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + configDigest, "size": config.count],
                "layers": [["mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + layerDigest, "size": layer.count]],
            ] as [String: Any], options: [.sortedKeys])
            manifests.append(["mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + (try put(manifest)),
                              "size": manifest.count, "platform": ["os": "linux", "architecture": architecture]])
        }
        let imageIndex = try JSONSerialization.data(withJSONObject: [
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests,
        ] as [String: Any], options: [.sortedKeys])
        let top = try JSONSerialization.data(withJSONObject: [
            "schemaVersion": 2,
            "manifests": [["mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + (try put(imageIndex)),
                           "size": imageIndex.count, "annotations": ["org.opencontainers.image.ref.name": "v1"]]],
        ] as [String: Any], options: [.sortedKeys])
        try top.write(to: URL(fileURLWithPath: path + "/index.json"))
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: path + "/oci-layout"))
    }

    @Test(arguments: [["arm64", "amd64", "s390x"], ["amd64", "arm64"], ["ppc64le", "arm64", "amd64"]])
    func picksLinuxAmd64(architectures: [String]) throws {
        let layout = scratch.path + "/multi"
        try writeIndex(layout, architectures: architectures)
        let image = try ImageStore(root: root, converter: FakeConverter().converter)
            .pull(try ImageReference(parsing: "oci:\(layout):v1"))
        #expect(image.config.cmd == ["/amd64"])
        #expect(image.config.env == ["ARCH=amd64"])
        #expect(StoreContents(root).tmp.isEmpty)
    }

    @Test func anIndexWithoutLinuxAmd64IsRefused() throws {
        let layout = scratch.path + "/arm-only"
        try writeIndex(layout, architectures: ["arm64", "s390x"])
        let reference = try ImageReference(parsing: "oci:\(layout):v1")
        do {
            _ = try ImageStore(root: root, converter: FakeConverter().converter).pull(reference)
            Issue.record("an arm64/s390x-only index was pulled")
        } catch {
            let message = "\(error)"
            #expect(message.contains(layout), "\(message)")
            #expect(!message.contains("\n"), "\(message)")
        }
        #expect(StoreContents(root).images.isEmpty)
    }
}
