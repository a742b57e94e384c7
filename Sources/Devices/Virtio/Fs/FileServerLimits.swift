/// How much of the host one virtio-fs device may hold on the guest's behalf.
///
/// Each node and each open handle is one host descriptor, so `maxNodes + maxHandles` (plus
/// the VMM's own) must fit the process's RLIMIT_NOFILE; past either bound the guest gets
/// ENFILE (nodes) or EMFILE (handles), never an unbounded table.
public struct FileServerLimits: Equatable, Sendable {
    public static let defaultMaxNodes = 16384
    public static let defaultMaxHandles = 1024
    public static let defaultMaxReadSize = 128 * 1024

    /// Inodes the guest may know at once (the root included).
    public var maxNodes: Int
    /// Files and directories the guest may hold open at once.
    public var maxHandles: Int
    /// The largest READ or READDIR reply, a multiple of the 4 KiB page up to 1 MiB; announced
    /// to the guest as max_pages, max_readahead and max_write.
    public var maxReadSize: Int
    /// How long the guest may cache names and attributes, in seconds (the tree is read-only
    /// for the guest, but the host may change it).
    public var cacheTimeoutSeconds: UInt64

    public init(maxNodes: Int = defaultMaxNodes, maxHandles: Int = defaultMaxHandles,
                maxReadSize: Int = defaultMaxReadSize, cacheTimeoutSeconds: UInt64 = 1) {
        self.maxNodes = maxNodes
        self.maxHandles = maxHandles
        self.maxReadSize = maxReadSize
        self.cacheTimeoutSeconds = cacheTimeoutSeconds
    }

    /// Why these limits cannot be used, or nil.
    var problem: String? {
        if maxNodes < 1 || maxNodes > 1 << 24 { return "maxNodes \(maxNodes) is outside 1...\(1 << 24)" }
        if maxHandles < 1 || maxHandles > 1 << 20 { return "maxHandles \(maxHandles) is outside 1...\(1 << 20)" }
        if maxReadSize < FuseLayout.pageSize || maxReadSize > 1 << 20 || maxReadSize % FuseLayout.pageSize != 0 {
            return "maxReadSize \(maxReadSize) is not a multiple of 4096 in 4096...1048576"
        }
        return nil
    }
}

/// Why a file server (or the virtio-fs device around it) cannot be set up.
public enum FileServerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The shared directory could not be opened (or is not a directory).
    case sharedDirectory(path: String, errno: Int32)
    case invalidLimits(String)
    /// The tag is empty, longer than 36 bytes, or holds a NUL.
    case invalidTag(String)
    case invalidQueues(String)

    public var description: String {
        switch self {
        case let .sharedDirectory(path, errno): "virtio-fs: cannot open shared directory \(path) (errno \(errno))"
        case let .invalidLimits(reason): "virtio-fs: \(reason)"
        case let .invalidTag(tag): "virtio-fs: tag \"\(tag)\" must be 1 to 36 bytes of UTF-8 without NUL"
        case let .invalidQueues(reason): "virtio-fs: \(reason)"
        }
    }
}

/// What a file server has done.
public struct FileServerCounters: Equatable, Sendable {
    /// Requests parsed (FORGETs included).
    public var requests: UInt64 = 0
    /// Replies carrying an error, refusals included.
    public var errors: UInt64 = 0
    /// Requests that would have changed the tree, answered EROFS.
    public var refusedModifications: UInt64 = 0
    /// Chains that could not be walked or carried no reply room (answered with used length 0).
    public var malformedChains: UInt64 = 0

    public init() {}
}
