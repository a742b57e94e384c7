import SandboxHost

/// The image's /etc/passwd and /etc/group, copied beside its root filesystem once at
/// conversion, so that resolving `User: name` on every `kiln run` is a small file read instead
/// of two debugfs runs (~5 ms). Absent files are saved empty.
public enum ImageAccountFiles {
    /// Each account file of the image and the name of its copy beside the root filesystem.
    public static let files = [(path: "/etc/passwd", saved: "etc-passwd"), (path: "/etc/group", saved: "etc-group")]

    /// Saves the copies beside `rootfs` (a converted image not yet in the store). A file the
    /// image does not have, or that cannot be read from it, is saved empty.
    public static func save(of rootfs: String) {
        for file in files {
            let bytes = (try? ImageFileReader.read(image: rootfs, path: file.path)) ?? nil
            _ = FileText.write(savedPath(file.saved, rootfs: rootfs), String(decoding: bytes ?? [], as: UTF8.self))
        }
    }

    /// The saved copy `name` for the image whose root filesystem is `rootfs`: its text ("" when
    /// the image has no such file), or nil when none was saved (an image an older kiln converted).
    public static func saved(_ name: String, rootfs: String) -> String? {
        FileText.read(savedPath(name, rootfs: rootfs), limit: 1 << 20)
    }

    /// The text of the image's account file `path` (nil: the image has none): the copy saved
    /// at conversion, else read from the image (debugfs, bounded; a symlink counts as absent).
    public static func text(of path: String, rootfs: String) throws(SandboxHostError) -> String? {
        if let saved = files.first(where: { $0.path == path }).flatMap({ saved($0.saved, rootfs: rootfs) }) {
            return saved.isEmpty ? nil : saved
        }
        return try ImageFileReader.read(image: rootfs, path: path).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func savedPath(_ name: String, rootfs: String) -> String {
        "\(rootfs[..<(rootfs.lastIndex(of: "/") ?? rootfs.startIndex)])/\(name)"
    }
}
