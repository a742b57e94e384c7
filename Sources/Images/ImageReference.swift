/// An image as users name it for podman and skopeo: a registry reference (`python:3.12-slim`,
/// `ghcr.io/owner/name:tag`, `host:port/name@sha256:...`) or a local source (`oci:DIR[:TAG]`,
/// `oci-archive:FILE[:TAG]`, `docker-archive:FILE`).
public enum ImageReference: Hashable, Sendable, CustomStringConvertible {
    /// `registry` is the host (`docker.io` for Docker Hub), `repository` the path with `library/`
    /// added for Docker Hub's one-word names; `tag` is nil only when a digest pins the image.
    case registry(registry: String, repository: String, tag: String?, digest: Digest?)
    case oci(path: String, tag: String?)
    case ociArchive(path: String, tag: String?)
    case dockerArchive(path: String)

    /// Parses `text`; relative paths of local sources are made absolute against
    /// `currentDirectory` when it is given, so the store's names do not depend on where the
    /// command ran.
    public init(parsing text: String, currentDirectory: String? = nil) throws(ImageError) {
        self = try ReferenceParser.parse(text, currentDirectory: currentDirectory)
    }

    /// What `kiln images` lists under NAME: the repository (`docker.io/library/python`) or the
    /// local source (`oci:/abs/dir`).
    public var name: String {
        switch self {
        case .registry(let registry, let repository, _, _): return registry + "/" + repository
        case .oci(let path, _): return "oci:" + path
        case .ociArchive(let path, _): return "oci-archive:" + path
        case .dockerArchive(let path): return "docker-archive:" + path
        }
    }

    public var tag: String? {
        switch self {
        case .registry(_, _, let tag, _), .oci(_, let tag), .ociArchive(_, let tag): return tag
        case .dockerArchive: return nil
        }
    }

    public var digest: Digest? {
        if case .registry(_, _, _, let digest) = self { return digest }
        return nil
    }

    /// The name the store records: `docker.io/library/python:3.12-slim`, with `@sha256:...`
    /// when a digest pins it.
    public var canonicalName: String {
        var text = name
        if let tag { text += ":" + tag }
        if let digest { text += "@" + digest.description }
        return text
    }

    public var description: String { canonicalName }

    /// The `SOURCE-IMAGE` argument of `skopeo copy`. A digest wins over a tag (containers/image
    /// refuses references with both), as in podman.
    public var skopeoSource: String {
        switch self {
        case .registry(let registry, let repository, let tag, let digest):
            if let digest { return "docker://\(registry)/\(repository)@\(digest)" }
            return "docker://\(registry)/\(repository):\(tag ?? "latest")"
        case .oci(let path, let tag): return "oci:" + path + (tag.map { ":" + $0 } ?? "")
        case .ociArchive(let path, let tag): return "oci-archive:" + path + (tag.map { ":" + $0 } ?? "")
        case .dockerArchive(let path): return "docker-archive:" + path
        }
    }

    /// Whether a pull talks to a registry (so `--tls-verify` applies).
    public var isRegistry: Bool {
        if case .registry = self { return true }
        return false
    }
}
