import SandboxHost

/// How a bundle's root directory reaches the guest. Pluggable because the final form is the
/// directory itself served read-only over virtio-fs (issue 18, point 4: `kiln boot --share`);
/// until the VMM side lands, `Ext4RootfsImage` copies it into an ext4 image booted like
/// `kiln run --rootfs`.
public protocol RootfsSource: Sendable {
    /// What the VMM gets for `rootfs` (a host directory), prepared inside the container's state
    /// directory (removed with it).
    func prepare(rootfs: String, in directory: RunDirectory) throws(OCIRuntimeError) -> PreparedRootfs
}

public enum PreparedRootfs: Equatable, Sendable {
    /// A read-only ext4 image for the first virtio-blk drive.
    case blockImage(path: String)
    /// The directory itself, for a virtio-fs share (not wired yet).
    case sharedDirectory(path: String)
}
