import ImageLayers
import Images

/// The layer applier (ImageLayers: straight into ext4 with libext2fs, nothing extracted on the
/// host) behind the image store's injected converter; the account files are saved beside the
/// result for `User` names.
public enum ImageConversion {
    public static let converter: RootfsConverter = { layers, output in try convert(layers, output, progress: { _ in }) }

    /// The same, reporting each layer read and every 64 MiB written (`kiln pull` shows the lines
    /// on a terminal).
    public static let progressingConverter: ProgressingRootfsConverter = { layers, output, progress in
        try convert(layers, output) { progress($0.description) }
    }

    private static func convert(_ layers: [Images.LayerBlob], _ output: String,
                                progress: (RootfsBuildProgress) -> Void) throws {
        let blobs = layers.map { ImageLayers.LayerBlob(path: $0.path, mediaType: $0.mediaType, digest: $0.digest) }
        try RootfsBuilder.build(layers: blobs, output: output, progress: progress)
        ImageAccountFiles.save(of: output)
    }
}
