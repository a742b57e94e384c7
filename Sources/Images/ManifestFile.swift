import FoundationEssentials

/// The blob hex digests a stored manifest uses (config and layers), for prune and rmi.
enum ManifestFile {
    static func decode(_ bytes: [UInt8]) -> Set<String>? {
        guard let manifest = try? JSONDecoder().decode(Manifest.self, from: Data(bytes)) else { return nil }
        return Set(([manifest.config] + manifest.layers).compactMap { Digest($0.digest)?.hex })
    }
}
