import AgentProtocol
import Glibc

/// The agent as /init of kiln's initramfs (`kiln.root=DEVICE` or `kiln.root=virtiofs:TAG`): the
/// image (an ext4 disk, or a host directory over virtio-fs) is mounted read-only,
/// the write layer goes over it, and the overlay becomes the root, as switch_root does it. The
/// initramfs root cannot be pivot_root'ed away, so the overlay is moved onto `/` and chroot'ed
/// into; the initramfs stays underneath (a few MiB: the agent, which runs from memory anyway).
enum ImageRoot {
    /// Directories in the initramfs root (writable: it is a tmpfs).
    static let image = "/kiln/image"
    static let writeLayer = "/kiln/layer"

    /// `devicesMounted` runs as soon as devtmpfs is on /dev.
    static func enter(image source: GuestRoot.Image, layer: GuestRoot.WriteLayer,
                      devicesMounted: () -> Void) throws(AgentSetupError) {
        // /dev/vda exists only once devtmpfs is there: the kernel mounts it only on a root it
        // mounted itself, not on the initramfs.
        _ = mkdir("/dev", 0o755)
        guard mount("devtmpfs", "/dev", "devtmpfs", UInt(MS_NOSUID), "mode=0755") == 0 || errno == EBUSY else {
            throw .init(step: "mount devtmpfs on /dev", errno: errno)
        }
        devicesMounted()
        for dir in ["/kiln", image, writeLayer] {
            guard mkdir(dir, 0o755) == 0 || errno == EEXIST else { throw .init(step: "mkdir \(dir)", errno: errno) }
        }
        // No nosuid/nodev: the image is the whole system (sudo, ping) and is read-only anyway
        // (the file server never opens a device node on the host: the guest's own devtmpfs
        // and kernel serve those).
        let (what, type) = switch source {
        case .disk(let device): (device, "ext4")
        case .share(let tag): (tag, "virtiofs")
        }
        guard mount(what, image, type, UInt(MS_RDONLY), nil) == 0 else {
            throw .init(step: "mount \(what) (\(type), read-only) on \(image)", errno: errno)
        }
        let root = try WriteLayer.mountOverlay(lower: image, base: writeLayer, layer: layer)
        guard chdir(root) == 0 else { throw .init(step: "chdir \(root)", errno: errno) }
        guard mount(".", "/", nil, UInt(MS_MOVE), nil) == 0 else { throw .init(step: "move \(root) to /", errno: errno) }
        guard chroot(".") == 0 else { throw .init(step: "chroot", errno: errno) }
        guard chdir("/") == 0 else { throw .init(step: "chdir /", errno: errno) }
    }
}
