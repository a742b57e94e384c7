/// How the guest's root file system is put together, as kiln writes it on the kernel command
/// line and kiln-agent reads it. Shared by both ends so kiln writes exactly what the agent parses.
///
/// Two ways to boot:
/// - the agent comes with kiln in an initramfs (`kiln.root=/dev/vda`, no `root=`): it mounts the
///   image read-only itself, so images need no agent, shell or libc;
/// - the image's own /sbin/init is the agent (`root=/dev/vda ro`: the busybox sandbox image).
/// With the agent in the initramfs the image may also be a host directory served over virtio-fs
/// (`kiln.root=virtiofs:TAG`: kiln-oci's bundle rootfs), mounted read-only the same way.
/// Either way the writes go to an overlay whose upper layer is a tmpfs or a scratch disk.
public struct GuestRoot: Equatable, Sendable {
    public enum WriteLayer: Equatable, Sendable {
        case tmpfs
        /// An ext4 scratch disk the host made (`kiln run --disk-size`).
        case disk(device: String)

        var commandLineValue: String {
            switch self {
            case .tmpfs: "tmpfs"
            case .disk(let device): "disk:" + device
            }
        }
    }

    /// Where the agent finds the image when it mounts it itself (initramfs boot).
    public enum Image: Equatable, Sendable {
        /// An ext4 image on a virtio-blk disk.
        case disk(device: String)
        /// A host directory served by the virtio-fs device with this tag.
        case share(tag: String)

        var commandLineValue: String {
            switch self {
            case .disk(let device): device
            case .share(let tag): GuestRoot.sharePrefix + tag
            }
        }
    }

    /// The image when the agent mounts it (initramfs boot); nil when the kernel mounted it as
    /// the root.
    public var image: Image?
    /// nil: no overlay (the read-only image is the root).
    public var writeLayer: WriteLayer?

    public static let rootKey = "kiln.root="
    public static let overlayKey = "kiln.overlay="
    /// The first virtio-blk disk is the image, the second the scratch disk.
    public static let imageDisk = "/dev/vda"
    public static let scratchDisk = "/dev/vdb"

    public static let sharePrefix = "virtiofs:"

    public init(image: Image?, writeLayer: WriteLayer?) {
        self.image = image
        self.writeLayer = writeLayer
    }

    public init(imageDevice: String?, writeLayer: WriteLayer?) {
        self.init(image: imageDevice.map { .disk(device: $0) }, writeLayer: writeLayer)
    }

    /// The image's block device, when the image is on one.
    public var imageDevice: String? {
        if case .disk(let device) = image { device } else { nil }
    }

    /// The words to put on the kernel command line.
    public var commandLineWords: [String] {
        let root = image.map { [Self.rootKey + $0.commandLineValue] } ?? ["root=\(Self.imageDisk)", "ro", "rootfstype=ext4"]
        return root + (writeLayer.map { [Self.overlayKey + $0.commandLineValue] } ?? [])
    }

    /// Reads `kiln.root=` and `kiln.overlay=` (the last of each counts, as for the kernel's own
    /// words). Values that are not devices under /dev, share tags or known layers are ignored:
    /// the agent then falls back to what still runs commands.
    public static func fromCommandLine(_ cmdline: String) -> GuestRoot {
        let words = cmdline.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        let device = words.last { $0.hasPrefix(rootKey) }.map { String($0.dropFirst(rootKey.count)) }
        let overlay = words.last { $0.hasPrefix(overlayKey) }.map { $0.dropFirst(overlayKey.count) }
        var layer: WriteLayer?
        if overlay == "tmpfs" {
            layer = .tmpfs
        } else if let overlay, overlay.hasPrefix("disk:"), isDevice(overlay.dropFirst("disk:".count)) {
            layer = .disk(device: String(overlay.dropFirst("disk:".count)))
        }
        var image: Image?
        if let device, device.hasPrefix(sharePrefix) {
            let tag = String(device.dropFirst(sharePrefix.count))
            if GuestMount.tagProblem(tag) == nil { image = .share(tag: tag) }
        } else if let device, isDevice(Substring(device)) {
            image = .disk(device: device)
        }
        return GuestRoot(image: image, writeLayer: layer)
    }

    private static func isDevice(_ path: Substring) -> Bool {
        path.hasPrefix("/dev/") && path.count > 5 && !path.split(separator: "/").contains("..")
    }
}
