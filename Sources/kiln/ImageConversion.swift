import ImageLayers
import Images
import SandboxHost

/// The layer applier (ImageLayers: straight into ext4 with libext2fs, nothing extracted on the
/// host) behind the image store's injected converter.
enum ImageConversion {
    static let converter: RootfsConverter = { layers, output in
        let blobs = layers.map { ImageLayers.LayerBlob(path: $0.path, mediaType: $0.mediaType, digest: $0.digest) }
        try RootfsBuilder.build(layers: blobs, output: output)
        saveAccountFiles(of: output)
    }

    /// The image's /etc/passwd and /etc/group, copied beside its root filesystem once at
    /// conversion, so that resolving `User: name` on every `kiln run` is a small file read
    /// instead of two debugfs runs (~5 ms). Absent files are saved empty.
    static let accountFiles = [("/etc/passwd", "etc-passwd"), ("/etc/group", "etc-group")]

    static func saveAccountFiles(of rootfs: String) {
        let directory = String(rootfs[..<(rootfs.lastIndex(of: "/") ?? rootfs.startIndex)])
        for (path, name) in accountFiles {
            let bytes = (try? ImageFileReader.read(image: rootfs, path: path)) ?? nil
            _ = FileText.write("\(directory)/\(name)", String(decoding: bytes ?? [], as: UTF8.self))
        }
    }

    /// A saved account file of the image whose root filesystem is `rootfs`: its text ("" when
    /// the image has none), or nil when none was saved (an image converted by an older kiln).
    static func savedAccountFile(_ name: String, rootfs: String) -> String? {
        let directory = String(rootfs[..<(rootfs.lastIndex(of: "/") ?? rootfs.startIndex)])
        return FileText.read("\(directory)/\(name)", limit: 1 << 20)
    }
}
