import ChildProcessSupport
import Foundation
import ImageLayers
import Testing

/// One tar entry for Fixtures/make_layer.py (the tests craft hostile archives on purpose).
struct Entry: Encodable {
    var path: String
    var type = "file"
    var data: String?
    var mode: Int?
    var uid: Int?
    var gid: Int?
    var mtime: Int?
    var link: String?
    var xattrs: [String: String]?
    var major: Int?
    var minor: Int?

    static func file(_ path: String, _ data: String = "", mode: Int? = nil, uid: Int? = nil, gid: Int? = nil,
                     mtime: Int? = nil, xattrs: [String: String]? = nil) -> Entry {
        Entry(path: path, data: data, mode: mode, uid: uid, gid: gid, mtime: mtime, xattrs: xattrs)
    }
    static func dir(_ path: String, mode: Int? = nil, uid: Int? = nil, gid: Int? = nil) -> Entry {
        Entry(path: path, type: "dir", mode: mode, uid: uid, gid: gid)
    }
    static func symlink(_ path: String, to target: String) -> Entry { Entry(path: path, type: "symlink", link: target) }
    static func hardlink(_ path: String, to target: String) -> Entry { Entry(path: path, type: "hardlink", link: target) }
    static func device(_ path: String, type: String, major: Int = 0, minor: Int = 0) -> Entry {
        Entry(path: path, type: type, major: major, minor: minor)
    }
}

struct FixtureError: Error, CustomStringConvertible { let description: String }

/// How the builder runs: in this (root) process, or in rootfs-build-probe as uid/gid 65534.
enum Runner: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case root, unprivileged
    var testDescription: String { rawValue }
}

/// A private scratch directory (0755 so uid 65534 can read layers, an `out` it may write to),
/// with a canary directory outside the image that hostile layers aim at.
final class Workspace {
    let path: String
    let canary: String
    private var layerCount = 0

    init() throws {
        var template = Array("/tmp/kiln-layers-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw FixtureError(description: "mkdtemp failed") }
        path = String(cString: made)
        chmod(path, 0o755)
        canary = path + "/canary"
        try FileManager.default.createDirectory(atPath: canary, withIntermediateDirectories: true)
        try "untouched\n".write(toFile: canary + "/keep", atomically: false, encoding: .utf8)
        let out = path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        chmod(out, 0o777)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    static let mediaTypes = ["none": "application/vnd.oci.image.layer.v1.tar",
                             "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
                             "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"]

    /// Writes a layer with make_layer.py; `compression` is none, gzip or zstd.
    func layer(_ entries: [Entry], compression: String = "gzip") throws -> LayerBlob {
        layerCount += 1
        let spec = path + "/layer\(layerCount).json"
        let blob = path + "/layer\(layerCount).tar"
        try JSONEncoder().encode(entries).write(to: URL(fileURLWithPath: spec))
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/make_layer.py").path
        let result = try ChildProcess.run("/usr/bin/python3", [script, spec, blob, compression])
        guard result.status == 0 else { throw FixtureError(description: "make_layer.py: \(result)") }
        chmod(blob, 0o644)
        return LayerBlob(path: blob, mediaType: Self.mediaTypes[compression] ?? compression,
                         digest: "sha256:layer\(layerCount)")
    }

    /// Builds `layers` into out/NAME.ext4 as `runner`; returns the image path or the error's line.
    func build(_ layers: [LayerBlob], as runner: Runner, name: String = "rootfs") throws -> Result<String, BuildFailure> {
        let output = path + "/out/\(name).ext4"
        switch runner {
        case .root:
            do {
                try RootfsBuilder.build(layers: layers, output: output)
            } catch {
                return .failure(BuildFailure(description: error.description))
            }
        case .unprivileged:
            let arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", Self.probe, output]
                + layers.map { "\($0.mediaType)=\($0.path)" }
            let result = try ChildProcess.run("/usr/bin/setpriv", arguments, timeout: 120)
            guard result.status == 0 else {
                guard result.status == 1 else { throw FixtureError(description: "probe: \(result)") }
                return .failure(BuildFailure(description: result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    .replacingOccurrences(of: "layer layer", with: "layer sha256:layer")))
            }
        }
        return .success(output)
    }

    /// The canary directory still holds exactly its one file, unchanged, and nothing appeared
    /// beside the workspace's own files.
    func canaryUntouched() throws -> Bool {
        let names = try FileManager.default.contentsOfDirectory(atPath: canary)
        let keep = try String(contentsOfFile: canary + "/keep", encoding: .utf8)
        return names == ["keep"] && keep == "untouched\n"
    }

    static var probe: String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("rootfs-build-probe").path
    }
}

struct BuildFailure: Error, CustomStringConvertible { let description: String }
