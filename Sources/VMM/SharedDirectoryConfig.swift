import Devices
#if canImport(Glibc)
import Glibc
#endif

/// A host directory served read-only to the guest by a virtio-fs device (`kiln boot --share
/// DIR:TAG`); the guest mounts it with `mount -t virtiofs TAG MOUNTPOINT`.
public struct SharedDirectoryConfig: Sendable, Equatable {
    public var tag: String
    public var hostPath: String

    public init(tag: String, hostPath: String) {
        self.tag = tag
        self.hostPath = hostPath
    }

    /// Descriptors the VMM keeps for itself (KVM, vCPUs, eventfds, TAPs, disks, vsock sockets)
    /// before the file servers' tables: the rest of RLIMIT_NOFILE is split between the shares.
    static let reservedDescriptors = 256

    /// Checks every share: tags 1 to 36 bytes without NUL, each used once; host paths existing
    /// directories. Trusted configuration, but a mistake must be one line, not a guest that
    /// cannot mount.
    static func validate(_ shares: [SharedDirectoryConfig]) throws(VMMError) {
        var tags = Set<String>()
        for share in shares {
            let bytes = share.tag.utf8.count
            guard (1...Fs.tagSize).contains(bytes), !share.tag.utf8.contains(0) else {
                throw .invalidConfiguration("shared directory tag '\(share.tag)' must be 1 to \(Fs.tagSize) bytes without NUL")
            }
            guard tags.insert(share.tag).inserted else {
                throw .invalidConfiguration("shared directory tag '\(share.tag)' is used twice")
            }
            guard !share.hostPath.isEmpty, !share.hostPath.utf8.contains(0) else {
                throw .invalidConfiguration("shared directory '\(share.tag)' needs a host path without NUL bytes")
            }
            var info = stat()
            guard stat(share.hostPath, &info) == 0 else {
                throw .file(operation: "shared directory", path: share.hostPath, errno: errno)
            }
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw .invalidConfiguration("shared directory \(share.hostPath) is not a directory")
            }
        }
    }

    /// Each node and open handle of a file server is a host descriptor, so the servers' tables
    /// must fit the process's RLIMIT_NOFILE (the jailer's default is 2048, far below the
    /// servers' own defaults of 16384 + 1024): past a table's bound the guest gets ENFILE or
    /// EMFILE, where past the rlimit the VMM itself could not open anything. Each of `count`
    /// shares gets an equal part of what is left after `reservedDescriptors`, 7/8 for nodes (a
    /// guest walks far more names than it holds open) and 1/8 for handles, never above the
    /// defaults; nil when not even 16 descriptors per share are left.
    static func limits(shares count: Int, descriptorLimit: UInt64) -> FileServerLimits? {
        guard count > 0 else { return FileServerLimits() }
        let available = descriptorLimit > UInt64(Int.max) ? Int.max : Int(descriptorLimit)
        let perShare = (available - reservedDescriptors) / count
        guard perShare >= 16 else { return nil }
        let handles = min(max(perShare / 8, 1), FileServerLimits.defaultMaxHandles)
        let nodes = min(perShare - handles, FileServerLimits.defaultMaxNodes)
        return FileServerLimits(maxNodes: nodes, maxHandles: handles)
    }

    /// The soft RLIMIT_NOFILE of this process.
    static func descriptorLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return UInt64(limit.rlim_cur)
    }
}
