import Images

/// The layer applier that turns an image's layers into its ext4 root filesystem.
/// PLACEHOLDER until the ImageLayers target is merged: pulls fetch and verify, then stop here.
enum ImageConversion {
    struct Unavailable: Error, CustomStringConvertible {
        var description: String { "image conversion is not available in this build" }
    }

    static let converter: RootfsConverter = { _, _ in throw Unavailable() }
}
