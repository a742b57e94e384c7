/// What `kiln gc` takes from the image store: what failed and killed pulls left (their
/// temporaries and the blobs no stored image uses), never an image or a name: removing those is
/// `kiln rmi` and `kiln image prune`. Blobs no image uses come only from pulls that did not
/// finish, since `rmi` and `prune` remove an image's unshared blobs with it.
public struct ImageStoreLeftovers: Sendable, Equatable {
    /// What went, one line each ("temporary pull-...", "blob sha256:...").
    public var removed: [String] = []
    /// A pull was running (pulls.lock held): nothing was looked at, since its temporaries and
    /// fresh blobs are not leftovers yet.
    public var pullInProgress = false

    public init(removed: [String] = [], pullInProgress: Bool = false) {
        self.removed = removed
        self.pullInProgress = pullInProgress
    }
}

extension ImageStore {
    /// Removes what dead pulls left, without waiting: if a pull is in progress, nothing.
    public func removeLeftovers() throws(ImageError) -> ImageStoreLeftovers {
        guard FileBytes.exists(layout.root) else { return ImageStoreLeftovers() }
        guard let pulls = try StoreLock(trying: layout.pullsLock, .exclusive) else {
            return ImageStoreLeftovers(pullInProgress: true)
        }
        let result: Result<ImageStoreLeftovers, ImageError>
        do throws(ImageError) {
            result = .success(try StoreLock.holding(layout.lock, .exclusive) { () throws(ImageError) -> ImageStoreLeftovers in
                ImageStoreLeftovers(removed: try removeTemporaries() + removeUnusedBlobs())
            })
        } catch {
            result = .failure(error)
        }
        _ = consume pulls
        return try result.get()
    }
}
