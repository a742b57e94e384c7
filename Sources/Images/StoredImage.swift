/// A name the store knows an image by (one `refs/` file each).
public struct StoredName: Sendable, Hashable {
    /// `docker.io/library/python:3.12-slim`, `oci:/abs/dir:tag`...
    public let canonical: String
    /// The NAME column: `docker.io/library/python`, `oci:/abs/dir`.
    public let repository: String
    /// The TAG column: nil for an untagged reference (`name@sha256:...`, `docker-archive:`).
    public let tag: String?

    public init(canonical: String, repository: String, tag: String?) {
        self.canonical = canonical
        self.repository = repository
        self.tag = tag
    }
}

/// A converted image in the store, ready to attach read-only.
public struct StoredImage: Sendable {
    /// The config blob's sha256 hex: the image id, the store's directory name.
    public let id: String
    public let storedNames: [StoredName]
    /// `images/<id>/rootfs.ext4`, mode 0444.
    public let rootfsPath: String
    public let config: ImageConfig
    /// Size of the root filesystem file in bytes.
    public let size: Int64
    /// When the image entered this store (seconds since the epoch).
    public let created: Int
    /// The manifest's digest, as registries show it.
    public let manifestDigest: Digest?

    public init(id: String, storedNames: [StoredName], rootfsPath: String, config: ImageConfig, size: Int64,
                created: Int, manifestDigest: Digest?) {
        self.id = id
        self.storedNames = storedNames
        self.rootfsPath = rootfsPath
        self.config = config
        self.size = size
        self.created = created
        self.manifestDigest = manifestDigest
    }

    public var names: [String] { storedNames.map(\.canonical) }
}
