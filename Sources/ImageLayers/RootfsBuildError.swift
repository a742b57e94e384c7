/// Why a root filesystem could not be built. Every case reads as one line naming the layer
/// (by digest), the entry path and what is wrong with it.
public enum RootfsBuildError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The layer's media type is not one of the tar layer types kiln applies.
    case unsupportedMediaType(layer: String, mediaType: String)
    /// libarchive could not open or decode the layer (not a tar, corrupt or truncated stream).
    case unreadableLayer(layer: String, reason: String)
    /// A hostile or unrepresentable entry: refused before anything is written for it.
    case refusedEntry(layer: String, entry: String, reason: String)
    /// The output path already exists (the builder never overwrites).
    case outputExists(path: String)
    /// A system call on the output file failed.
    case output(path: String, operation: String, errno: Int32)
    /// mke2fs could not be started or did not exit 0.
    case makeFilesystem(path: String, reason: String)
    /// libext2fs failed while writing an entry into the image.
    case image(entry: String, operation: String, reason: String)
    /// The image ran out of blocks or inodes even after growing once (a bad size estimate).
    case imageFull(entry: String)
    /// The image would exceed what ext4 or this builder can represent.
    case tooLarge(reason: String)

    public var description: String {
        switch self {
        case let .unsupportedMediaType(layer, mediaType):
            "layer \(layer): unsupported media type '\(mediaType)'"
        case let .unreadableLayer(layer, reason):
            "layer \(layer): cannot read archive: \(reason)"
        case let .refusedEntry(layer, entry, reason):
            "layer \(layer): entry '\(entry)' refused: \(reason)"
        case let .outputExists(path):
            "rootfs \(path): already exists"
        case let .output(path, operation, errno):
            "rootfs \(path): \(operation) failed: \(SystemErrno.message(errno))"
        case let .makeFilesystem(path, reason):
            "rootfs \(path): mke2fs failed: \(reason)"
        case let .image(entry, operation, reason):
            "rootfs entry '\(entry)': \(operation) failed: \(reason)"
        case let .imageFull(entry):
            "rootfs entry '\(entry)': image full even after doubling its estimated size"
        case let .tooLarge(reason):
            "rootfs too large: \(reason)"
        }
    }
}
