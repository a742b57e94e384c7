import Images

/// Where a sandbox's image comes from: kiln's image store (a test gives a stand-in).
public protocol ImageSource {
    func lookup(_ reference: ImageReference) -> StoredImage?
    func list() -> [StoredImage]
    func pull(_ reference: ImageReference, tlsVerify: Bool, progress: (String) -> Void) throws(ImageError) -> StoredImage
}

extension ImageStore: ImageSource {}
