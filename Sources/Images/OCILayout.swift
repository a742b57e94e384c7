import FoundationEssentials
import Glibc

/// An image read from an OCI image layout whose blobs have all been verified: the manifest and
/// config bytes as they were hashed, and the layers in application order.
struct VerifiedImage: Sendable {
    let manifestDigest: Digest
    let manifest: [UInt8]
    let configDigest: Digest
    let config: [UInt8]
    let layers: [LayerBlob]
}

/// Reads `index.json` → manifest → config and layers from an OCI layout, checking every media
/// type and the size and sha256 of every blob before anything uses it. A blob that fails is
/// deleted, so a later pull fetches it again rather than trusting it.
struct OCILayoutReader {
    /// The layout directory (holding index.json).
    let layout: String
    /// Where the blobs are: `<blobs>/sha256/<hex>` (the store's shared blob directory when
    /// skopeo was given `--dest-shared-blob-dir`).
    let blobs: String
    /// The reference being pulled, for error lines.
    let reference: String

    static let maxJSONSize: Int64 = 8 << 20

    func blobPath(_ digest: Digest) -> String { "\(blobs)/sha256/\(digest.hex)" }

    func read(tag: String) throws(ImageError) -> VerifiedImage {
        let indexBytes = try readFile("\(layout)/index.json", limit: Self.maxJSONSize)
        let index: Index
        do { index = try JSONDecoder().decode(Index.self, from: Data(indexBytes)) } catch {
            throw .badLayout(reference: reference, problem: "index.json is not an OCI index: \(oneLine(error))")
        }
        guard let entry = index.manifests.first(where: { $0.annotations?["org.opencontainers.image.ref.name"] == tag }) else {
            throw .missingTag(reference: reference, tag: tag)
        }
        let manifestDescriptor = try descriptor(entry)
        guard let manifestType = MediaType(rawValue: entry.mediaType), manifestType.isManifest else {
            throw .unknownMediaType(reference: reference, mediaType: entry.mediaType)
        }
        let manifestBytes = try verifiedJSON(manifestDescriptor)
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: Data(manifestBytes)) } catch {
            throw .badLayout(reference: reference, problem: "manifest \(manifestDescriptor.digest) is not an image manifest: \(oneLine(error))")
        }
        if let declared = manifest.mediaType, declared != entry.mediaType {
            throw .badLayout(reference: reference, problem: "manifest says \(quoted(declared)), index says \(quoted(entry.mediaType))")
        }
        guard let configType = MediaType(rawValue: manifest.config.mediaType), configType.isConfig else {
            throw .unknownMediaType(reference: reference, mediaType: manifest.config.mediaType)
        }
        // Every media type first: an unsupported layer is refused before hashing gigabytes.
        var layerTypes: [MediaType] = []
        for layer in manifest.layers {
            guard let type = MediaType(rawValue: layer.mediaType), type.isLayer else {
                throw .unknownMediaType(reference: reference, mediaType: layer.mediaType)
            }
            layerTypes.append(type)
        }
        let configDescriptor = try descriptor(manifest.config)
        let configBytes = try verifiedJSON(configDescriptor)
        var layers: [LayerBlob] = []
        for (layer, type) in zip(manifest.layers, layerTypes) {
            let checked = try descriptor(layer)
            try verify(checked)
            layers.append(LayerBlob(path: blobPath(checked.digest), mediaType: type, digest: checked.digest))
        }
        return VerifiedImage(manifestDigest: manifestDescriptor.digest, manifest: manifestBytes,
                             configDigest: configDescriptor.digest, config: configBytes, layers: layers)
    }

    /// Size first (a truncated blob says so), then the hash; either failing deletes the blob.
    func verify(_ descriptor: CheckedDescriptor) throws(ImageError) {
        let path = blobPath(descriptor.digest)
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw .badLayout(reference: reference, problem: "blob \(descriptor.digest) is missing")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .badLayout(reference: reference, problem: "blob \(descriptor.digest) is not a regular file")
        }
        guard Int64(info.st_size) == descriptor.size else {
            unlink(path)
            throw .truncatedBlob(reference: reference, digest: descriptor.digest, size: Int64(info.st_size), expected: descriptor.size)
        }
        let (actual, size) = try SHA256.digest(ofFile: path)
        guard size == descriptor.size else {
            unlink(path)
            throw .truncatedBlob(reference: reference, digest: descriptor.digest, size: size, expected: descriptor.size)
        }
        guard actual == descriptor.digest else {
            unlink(path)
            throw .digestMismatch(reference: reference, expected: descriptor.digest, actual: actual)
        }
    }

    private func verifiedJSON(_ descriptor: CheckedDescriptor) throws(ImageError) -> [UInt8] {
        guard descriptor.size <= Self.maxJSONSize else {
            throw .badLayout(reference: reference, problem: "blob \(descriptor.digest) of \(descriptor.size) bytes is too large for JSON")
        }
        try verify(descriptor)
        // Hashed as a file above; read back only what was hashed (sizes equal, so a swap is caught
        // by the size check below).
        let bytes = try readFile(blobPath(descriptor.digest), limit: descriptor.size)
        guard Int64(bytes.count) == descriptor.size, SHA256.digest(of: bytes) == descriptor.digest else {
            unlink(blobPath(descriptor.digest))
            throw .badLayout(reference: reference, problem: "blob \(descriptor.digest) changed while it was read")
        }
        return bytes
    }

    private func descriptor(_ raw: Descriptor) throws(ImageError) -> CheckedDescriptor {
        guard let digest = Digest(raw.digest) else {
            throw .badLayout(reference: reference, problem: "unsupported digest \(quoted(raw.digest)) (sha256 only)")
        }
        guard raw.size >= 0 else { throw .badLayout(reference: reference, problem: "blob \(digest) has a negative size") }
        return CheckedDescriptor(digest: digest, size: raw.size)
    }

    private func readFile(_ path: String, limit: Int64) throws(ImageError) -> [UInt8] {
        do { return try FileBytes.read(path, limit: limit) } catch {
            if case .system(_, _, let code) = error, code == ENOENT, path.hasSuffix("/index.json") {
                throw .badLayout(reference: reference, problem: "no index.json in the layout")
            }
            throw error
        }
    }
}

struct CheckedDescriptor {
    let digest: Digest
    let size: Int64
}

struct Descriptor: Decodable {
    let mediaType: String
    let digest: String
    let size: Int64
    let annotations: [String: String]?
}

struct Index: Decodable {
    let manifests: [Descriptor]
}

struct Manifest: Decodable {
    let mediaType: String?
    let config: Descriptor
    let layers: [Descriptor]
}

func oneLine(_ error: any Error) -> String {
    "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
}
