import Images

/// Which image a sandbox runs: the one `--image` names (pulled when missing), else the default
/// image, else none (a root filesystem file given instead); for `kiln exec`, the image the
/// sandbox was created from.
public enum SandboxImageChoice {
    /// The name `Rootfs/build-default-image.sh` gives the Debian image.
    public static let defaultImageName = "kiln.local/default:latest"

    /// `--image REF`: the stored image, pulled into the store first when it is not there.
    public static func image(_ reference: ImageReference, from source: some ImageSource, tlsVerify: Bool,
                             progress: (String) -> Void) throws(ImageError) -> StoredImage {
        if let stored = source.lookup(reference) { return stored }
        return try source.pull(reference, tlsVerify: tlsVerify, progress: progress)
    }

    /// Without --image: none when a root filesystem file is named (`rootfsOption`, or a
    /// non-empty `$KILN_SANDBOX_ROOTFS`: the busybox test image), else the default image, which
    /// must be in the store (it is built, never pulled).
    public static func defaultImage(rootfsOption: String?, rootfsEnvironment: String?,
                                    from source: some ImageSource) throws(SandboxImageError) -> StoredImage? {
        if rootfsOption != nil { return nil }
        if let rootfsEnvironment, !rootfsEnvironment.isEmpty { return nil }
        let reference: ImageReference
        do { reference = try ImageReference(parsing: defaultImageName) } catch {
            throw .defaultImage(name: defaultImageName, error)
        }
        guard let stored = source.lookup(reference) else { throw .noDefaultImage(name: defaultImageName) }
        return stored
    }

    /// The image a sandbox was created from: the `image=` line of its `config` text (nil: the
    /// sandbox has none). An image removed from the store since is an error.
    public static func imageOfSandbox(_ sandbox: String, config: String?,
                                      from source: some ImageSource) throws(SandboxImageError) -> StoredImage? {
        guard let config, let line = config.split(separator: "\n").first(where: { $0.hasPrefix("image=") }) else { return nil }
        let name = String(line.dropFirst("image=".count))
        let reference: ImageReference
        // The name is the store's canonical one, whose local paths are absolute.
        do { reference = try ImageReference(parsing: name) } catch { throw .sandboxImage(sandbox: sandbox, image: name, error) }
        guard let stored = source.lookup(reference) else { throw .imageGone(sandbox: sandbox, image: name) }
        return stored
    }

    /// The image a snapshot in `directory` was taken of (nil: it has none), found by id: it must
    /// still be in the store, at the root filesystem path the snapshot's VM has attached.
    public static func imageOfSnapshot(_ directory: String, imageID: String?, imageName: String?, rootfs: String,
                                       from source: some ImageSource) throws(SandboxImageError) -> StoredImage? {
        guard let imageID else { return nil }
        let name = imageName ?? imageID
        guard let image = source.list().first(where: { $0.id == imageID }) else {
            throw .snapshotImageGone(snapshot: directory, image: name)
        }
        guard image.rootfsPath == rootfs else {
            throw .snapshotImageMoved(snapshot: directory, image: name, now: image.rootfsPath, was: rootfs)
        }
        return image
    }
}
