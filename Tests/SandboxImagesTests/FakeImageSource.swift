import Glibc
import Images
import SandboxImages

/// The image store's stand-in: images by canonical name, and a pull that records its
/// arguments and either stores `pulled` under the name or fails.
final class FakeImageSource: ImageSource {
    var images: [String: StoredImage] = [:]
    var lookups: [String] = []
    var pulls: [(name: String, tlsVerify: Bool)] = []
    var pulled: StoredImage?
    var pullError = ImageError.fetchFailed(reference: "?", problem: "no registry in this test")

    init(_ images: [String: StoredImage] = [:]) { self.images = images }

    func lookup(_ reference: ImageReference) -> StoredImage? {
        lookups.append(reference.canonicalName)
        return images[reference.canonicalName]
    }

    func list() -> [StoredImage] { Array(images.values) }

    func pull(_ reference: ImageReference, tlsVerify: Bool, progress: (String) -> Void) throws(ImageError) -> StoredImage {
        pulls.append((reference.canonicalName, tlsVerify))
        progress("pulling \(reference.canonicalName)")
        guard let pulled else { throw pullError }
        images[reference.canonicalName] = pulled
        return pulled
    }
}

/// An image as the store describes it; its root filesystem need not exist (nothing here reads
/// it unless a test says so).
func storedImage(_ config: ImageConfig, name: String? = "kiln.local/test:latest", id: String = String(repeating: "ab", count: 32),
                 rootfs: String = "/nonexistent/rootfs.ext4") -> StoredImage {
    let names = name.map { [StoredName(canonical: $0, repository: String($0.split(separator: ":")[0]), tag: "latest")] } ?? []
    return StoredImage(id: id, storedNames: names, rootfsPath: rootfs, config: config, size: 0, created: 0, manifestDigest: nil)
}

/// A scratch directory for one test, removed (by path, it is the test's own) at the end.
final class ScratchDirectory {
    let path: String

    init() {
        var template = Array("/tmp/kiln-sandbox-images-tests.XXXXXX".utf8CString)
        path = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    }

    deinit { _ = system("rm -rf '\(path)'") }
}
