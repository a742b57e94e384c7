import Glibc

/// Where things live in the store, and the default root.
///
///     lock                    exclusive while the store's names and images change
///     pulls.lock              shared by pulls (downloads included), exclusive for rmi and prune,
///                             so nothing a pull is still using is removed under it
///     blobs/sha256/<hex>      blobs, shared by every image (skopeo's --dest-shared-blob-dir)
///     images/<id>/            rootfs.ext4 (0444), config.json, manifest.json, run-config (the
///                             config's run fields: ImageConfig+Saved); renamed in whole
///     refs/<sha256 of name>   "<id>\n<canonical name>\n<repository>\n<tag>\n", written then renamed
///     tmp/                    pulls in progress; anything left there is a killed pull's
///     locks/convert-<id>      one conversion per image id at a time (kept: removing a lock file
///                             others may be waiting on would let two holders in)
public struct StoreLayout: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    /// ImageConfig+Saved's file in an image's directory.
    public static let savedConfigName = "run-config"

    /// `$KILN_IMAGE_STORE`, else `/var/lib/kiln/images` as root, else
    /// `$XDG_DATA_HOME/kiln/images` (`~/.local/share/kiln/images`).
    /// `environment` looks a variable up (a closure, not a Dictionary: building a
    /// [String: String] cost `kiln run` a scan of the binary's protocol conformances).
    public static func defaultRoot(environment: (String) -> String?, isRoot: Bool) -> String {
        if let root = environment("KILN_IMAGE_STORE"), !root.isEmpty { return root }
        if isRoot { return "/var/lib/kiln/images" }
        if let data = environment("XDG_DATA_HOME"), data.hasPrefix("/") { return data + "/kiln/images" }
        return (environment("HOME") ?? "/") + "/.local/share/kiln/images"
    }

    var lock: String { root + "/lock" }
    var pullsLock: String { root + "/pulls.lock" }
    var blobs: String { root + "/blobs" }
    var blobDirectory: String { root + "/blobs/sha256" }
    var images: String { root + "/images" }
    var refs: String { root + "/refs" }
    var tmp: String { root + "/tmp" }
    var locks: String { root + "/locks" }

    func image(_ id: String) -> String { "\(images)/\(id)" }
    func rootfs(_ id: String) -> String { "\(images)/\(id)/rootfs.ext4" }
    func blob(_ digest: Digest) -> String { "\(blobDirectory)/\(digest.hex)" }
    func ref(_ canonicalName: String) -> String { "\(refs)/\(SHA256.digest(of: Array(canonicalName.utf8)).hex)" }

    /// Makes the root (and its parents) and the fixed directories.
    func prepare() throws(ImageError) {
        var path = root.hasPrefix("/") ? "" : "."
        for component in root.split(separator: "/") {
            path += "/" + component
            try FileBytes.makeDirectory(path)
        }
        for directory in [blobs, blobDirectory, images, refs, tmp, locks] { try FileBytes.makeDirectory(directory) }
    }
}
