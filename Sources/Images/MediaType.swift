/// The media types kiln reads; anything else (foreign or non-distributable layers, encrypted
/// layers, artifacts) is refused by name rather than guessed at.
public enum MediaType: String, Sendable, CaseIterable {
    case ociIndex = "application/vnd.oci.image.index.v1+json"
    case ociManifest = "application/vnd.oci.image.manifest.v1+json"
    case dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    case ociConfig = "application/vnd.oci.image.config.v1+json"
    case dockerConfig = "application/vnd.docker.container.image.v1+json"
    case ociLayer = "application/vnd.oci.image.layer.v1.tar"
    case ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    case ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    case dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"

    var isManifest: Bool { self == .ociManifest || self == .dockerManifest }
    var isConfig: Bool { self == .ociConfig || self == .dockerConfig }
    var isLayer: Bool { [.ociLayer, .ociLayerGzip, .ociLayerZstd, .dockerLayerGzip].contains(self) }
}
