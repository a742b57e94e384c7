import ImageLayers
import Images

/// The layer applier (ImageLayers: straight into ext4 with libext2fs, nothing extracted on the
/// host) behind the image store's injected converter; the account files are saved beside the
/// result for `User` names.
public enum ImageConversion {
    public static let converter: RootfsConverter = { layers, output in
        let blobs = layers.map { ImageLayers.LayerBlob(path: $0.path, mediaType: $0.mediaType, digest: $0.digest) }
        try RootfsBuilder.build(layers: blobs, output: output)
        ImageAccountFiles.save(of: output)
    }
}
