import Glibc

/// kiln's image store: content-addressed, read-only root filesystems shared by every sandbox of
/// an image, blobs shared by every image. See `StoreLayout` for the files and the two locks.
public struct ImageStore: Sendable {
    public let layout: StoreLayout
    let converter: ProgressingRootfsConverter
    let fetcher: any ImageFetcher

    /// The tag skopeo writes the pulled image under in its temporary layout.
    static let layoutTag = "kiln"

    public init(root: String, converter: @escaping RootfsConverter, fetcher: any ImageFetcher = SkopeoFetcher()) {
        self.init(root: root, progressingConverter: { layers, output, _ in try converter(layers, output) }, fetcher: fetcher)
    }

    /// A store whose conversions report their progress through each pull's `progress`.
    public init(root: String, progressingConverter: @escaping ProgressingRootfsConverter,
                fetcher: any ImageFetcher = SkopeoFetcher()) {
        layout = StoreLayout(root: root)
        converter = progressingConverter
        self.fetcher = fetcher
    }

    /// Fetches `reference` (blobs already in the store are not fetched again), verifies every
    /// blob, converts the layers unless this image id is already converted, and records the
    /// name. Whatever fails leaves only verified blobs and temporaries `prune` removes.
    public func pull(_ reference: ImageReference, tlsVerify: Bool = true,
                     progress: (String) -> Void = { _ in }) throws(ImageError) -> StoredImage {
        let name = reference.canonicalName
        // A store that exists but is not ours to write (a system-wide one, as a user; a
        // read-only mount): a line that says so, rather than the first mkdir or lock that fails.
        if access(layout.root, F_OK) == 0, access(layout.root, W_OK) != 0 {
            let code = errno
            if code == EACCES || code == EROFS { throw .storeNotWritable(root: layout.root, errno: code) }
        }
        try layout.prepare()
        return try StoreLock.holdingDescriptor(layout.pullsLock, .shared) { (pullsLock: Int32) throws(ImageError) -> StoredImage in
            try pullHoldingPullsLock(reference, name: name, tlsVerify: tlsVerify, pullsLock: pullsLock, progress: progress)
        }
    }

    private func pullHoldingPullsLock(_ reference: ImageReference, name: String, tlsVerify: Bool, pullsLock: Int32,
                                      progress: (String) -> Void) throws(ImageError) -> StoredImage {
        let work = "\(layout.tmp)/\(FileBytes.uniqueName("pull"))"
        try FileBytes.makeDirectory(work, mode: 0o700)
        defer { try? FileBytes.remove(work) }

        try fetcher.fetch(reference, tlsVerify: tlsVerify, layout: work + "/layout", tag: Self.layoutTag,
                          sharedBlobs: layout.blobs, heldLock: pullsLock, progress: progress)
        let reader = OCILayoutReader(layout: work + "/layout", blobs: layout.blobs, reference: name)
        let image = try reader.read(tag: Self.layoutTag)
        let config = try ImageConfig.decode(configBlob: image.config, reference: name)
        let id = image.configDigest.hex
        try convertOnce(image, config: config, id: id, name: name, work: work, progress: progress)

        let record = [id, name, reference.name, reference.tag ?? ""].joined(separator: "\n") + "\n"
        try StoreLock.holding(layout.lock, .exclusive) { () throws(ImageError) in
            try FileBytes.replace(layout.ref(name), Array(record.utf8), temporaryDirectory: work)
        }
        guard let stored = lookup(reference) else { throw .notInStore(reference: name) }
        return stored
    }

    /// One conversion per image id, however many pulls of it run at once: the per-id lock makes
    /// the later ones wait and find the image in place.
    private func convertOnce(_ image: VerifiedImage, config: ImageConfig, id: String, name: String, work: String,
                             progress: (String) -> Void) throws(ImageError) {
        try StoreLock.holding("\(layout.locks)/convert-\(id)", .exclusive) { () throws(ImageError) in
            try convertHoldingIdLock(image, config: config, id: id, name: name, work: work, progress: progress)
        }
    }

    private func convertHoldingIdLock(_ image: VerifiedImage, config: ImageConfig, id: String, name: String, work: String,
                                      progress: (String) -> Void) throws(ImageError) {
        guard !FileBytes.exists(layout.rootfs(id)) else { return }
        let staging = work + "/image"
        try FileBytes.makeDirectory(staging)
        try FileBytes.create(staging + "/config.json", image.config)
        try FileBytes.create(staging + "/" + StoreLayout.savedConfigName, Array(config.savedText.utf8))
        try FileBytes.create(staging + "/manifest.json", image.manifest)
        progress("Converting \(image.layers.count) layers to a root filesystem")
        let rootfs = staging + "/rootfs.ext4"
        do { try converter(image.layers, rootfs, progress) } catch {
            throw .conversionFailed(reference: name, problem: oneLine(error))
        }
        var info = stat()
        guard lstat(rootfs, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw .conversionFailed(reference: name, problem: "the converter wrote no root filesystem file")
        }
        guard chmod(rootfs, 0o444) == 0 else { throw .system("chmod", rootfs) }
        try StoreLock.holding(layout.lock, .exclusive) { () throws(ImageError) in
            // A directory there without its rootfs is a remnant nothing can use: move it aside.
            if FileBytes.exists(layout.image(id)) { try discard(layout.image(id)) }
            guard rename(staging, layout.image(id)) == 0 else { throw .system("rename", layout.image(id)) }
        }
    }

    /// Records `image` under one more name (`kiln image tag`, the default image's name), replacing
    /// what that name pointed at. The image must still be in the store.
    public func tag(_ image: StoredImage, as reference: ImageReference) throws(ImageError) -> StoredImage {
        let name = reference.canonicalName
        try layout.prepare()
        let record = [image.id, name, reference.name, reference.tag ?? ""].joined(separator: "\n") + "\n"
        try StoreLock.holding(layout.lock, .exclusive) { () throws(ImageError) in
            guard storedImage(image.id, names: []) != nil else { throw .notInStore(reference: image.names.first ?? image.id) }
            try FileBytes.replace(layout.ref(name), Array(record.utf8), temporaryDirectory: layout.tmp)
        }
        guard let stored = lookup(reference) else { throw .notInStore(reference: name) }
        return stored
    }

    /// The image recorded under `reference`'s canonical name, if it is complete.
    public func lookup(_ reference: ImageReference) -> StoredImage? {
        guard let record = readRef(layout.ref(reference.canonicalName)), record.name.canonical == reference.canonicalName else {
            return nil
        }
        return storedImage(record.id, names: list(of: record.id))
    }

    /// Every named image, each with all its names.
    public func list() -> [StoredImage] {
        var names: [String: [StoredName]] = [:]
        for record in allRefs() { names[record.id, default: []].append(record.name) }
        return names.keys.sorted().compactMap { storedImage($0, names: names[$0]!.sorted { $0.canonical < $1.canonical }) }
    }

    /// Drops `reference`'s name; the image, and the blobs no other image uses, go with its last name.
    @discardableResult
    public func remove(_ reference: ImageReference) throws(ImageError) -> [String] {
        let name = reference.canonicalName
        guard FileBytes.exists(layout.ref(name)) else { throw .notInStore(reference: name) }
        return try holdingBothLocks { () throws(ImageError) -> [String] in try removeLocked(name) }
    }

    private func removeLocked(_ name: String) throws(ImageError) -> [String] {
        guard let record = readRef(layout.ref(name)) else { throw .notInStore(reference: name) }
        guard unlink(layout.ref(name)) == 0 else { throw .system("unlink", layout.ref(name)) }
        var removed = ["name \(name)"]
        if !allRefs().contains(where: { $0.id == record.id }) {
            try discard(layout.image(record.id))
            removed.append("image \(record.id)")
            removed += try removeUnusedBlobs()
        }
        return removed
    }

    /// Removes images no name points at, blobs no image uses, names whose image is gone, and
    /// whatever killed pulls left in tmp/. Waits for pulls in progress. Returns what went.
    public func prune() throws(ImageError) -> [String] {
        guard FileBytes.exists(layout.root) else { return [] }
        try layout.prepare()
        return try holdingBothLocks { () throws(ImageError) -> [String] in try pruneLocked() }
    }

    private func pruneLocked() throws(ImageError) -> [String] {
        var removed = try removeTemporaries()
        // Nobody waits on a conversion lock while prune holds pulls.lock.
        for entry in try FileBytes.entries(layout.locks) { try FileBytes.remove("\(layout.locks)/\(entry)") }
        let refs = allRefs()
        for record in refs where !FileBytes.exists(layout.rootfs(record.id)) {
            unlink(layout.ref(record.name.canonical))
            removed.append("name \(record.name.canonical) (its image is gone)")
        }
        let named = Set(refs.map(\.id))
        for id in try FileBytes.entries(layout.images) where !named.contains(id) || !FileBytes.exists(layout.rootfs(id)) {
            try discard(layout.image(id))
            removed.append("image \(id)")
        }
        removed += try removeUnusedBlobs()
        return removed
    }

    /// What dead pulls left in tmp/. Only with pulls.lock held exclusively: then no pull runs.
    func removeTemporaries() throws(ImageError) -> [String] {
        var removed: [String] = []
        for entry in try FileBytes.entries(layout.tmp) {
            try FileBytes.remove("\(layout.tmp)/\(entry)")
            removed.append("temporary \(entry)")
        }
        return removed
    }

    /// pulls.lock before lock, as pulls take them: no pull is using anything while `body` runs.
    private func holdingBothLocks<T>(_ body: () throws(ImageError) -> T) throws(ImageError) -> T {
        try StoreLock.holding(layout.pullsLock, .exclusive) { () throws(ImageError) -> T in
            try StoreLock.holding(layout.lock, .exclusive, body)
        }
    }

    // MARK: - Under the locks

    /// Blobs no stored manifest names (manifest, config, layers), and anything in the blob
    /// directory that is not a blob (skopeo's temporary files of a killed copy).
    func removeUnusedBlobs() throws(ImageError) -> [String] {
        var used = Set<String>()
        for id in try FileBytes.entries(layout.images) {
            let path = layout.image(id) + "/manifest.json"
            guard let bytes = try? FileBytes.read(path, limit: OCILayoutReader.maxJSONSize) else { continue }
            used.insert(SHA256.digest(of: bytes).hex)
            guard let manifest = ManifestFile.decode(bytes) else { continue }
            used.formUnion(manifest)
        }
        var removed: [String] = []
        for entry in try FileBytes.entries(layout.blobDirectory) where !used.contains(entry) {
            try FileBytes.remove("\(layout.blobDirectory)/\(entry)")
            removed.append(Digest(hex: entry).map { "blob \($0)" } ?? "temporary blobs/sha256/\(entry)")
        }
        return removed
    }

    /// Moves a directory into tmp/ (one rename: it disappears whole) and deletes it there; if
    /// the deletion is cut short, prune finishes it.
    private func discard(_ path: String) throws(ImageError) {
        let aside = "\(layout.tmp)/\(FileBytes.uniqueName("discard"))"
        guard rename(path, aside) == 0 else { throw .system("rename", path) }
        try FileBytes.remove(aside)
    }

    // MARK: - Reading

    private struct RefRecord {
        let id: String
        let name: StoredName
    }

    private func readRef(_ path: String) -> RefRecord? {
        guard let bytes = try? FileBytes.read(path, limit: 64 << 10) else { return nil }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 4, Digest(hex: lines[0]) != nil, !lines[1].isEmpty else { return nil }
        return RefRecord(id: lines[0], name: StoredName(canonical: lines[1], repository: lines[2], tag: lines[3].isEmpty ? nil : lines[3]))
    }

    private func allRefs() -> [RefRecord] {
        ((try? FileBytes.entries(layout.refs)) ?? []).compactMap { readRef("\(layout.refs)/\($0)") }
    }

    private func list(of id: String) -> [StoredName] {
        allRefs().filter { $0.id == id }.map(\.name).sorted { $0.canonical < $1.canonical }
    }

    /// The run fields saved at conversion (ImageConfig+Saved), nil if there are none.
    private func savedConfig(_ id: String) -> ImageConfig? {
        guard let bytes = try? FileBytes.read(layout.image(id) + "/" + StoreLayout.savedConfigName,
                                              limit: OCILayoutReader.maxJSONSize) else { return nil }
        return ImageConfig(savedText: String(decoding: bytes, as: UTF8.self))
    }

    private func decodedConfig(_ id: String) -> ImageConfig? {
        guard let bytes = try? FileBytes.read(layout.image(id) + "/config.json", limit: OCILayoutReader.maxJSONSize) else { return nil }
        return try? ImageConfig.decode(configBlob: bytes, reference: id)
    }

    private func storedImage(_ id: String, names: [StoredName]) -> StoredImage? {
        let rootfs = layout.rootfs(id)
        var info = stat()
        guard lstat(rootfs, &info) == 0 else { return nil }
        var directory = stat()
        _ = lstat(layout.image(id), &directory)
        guard let config = savedConfig(id) ?? decodedConfig(id) else { return nil }
        let manifest = try? FileBytes.read(layout.image(id) + "/manifest.json", limit: OCILayoutReader.maxJSONSize)
        return StoredImage(id: id, storedNames: names, rootfsPath: rootfs, config: config, size: Int64(info.st_size),
                           created: Int(directory.st_mtim.tv_sec), manifestDigest: manifest.map { SHA256.digest(of: $0) })
    }
}
