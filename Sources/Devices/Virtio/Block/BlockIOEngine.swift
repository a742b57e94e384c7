/// How a virtio-blk device reaches its backing file (Firecracker's drive `io_engine`). Either
/// way the drive has a thread of its own in the VMM, so a disk that waits holds only its drive.
public enum BlockIOEngine: String, Sendable, CaseIterable {
    /// One preadv/pwritev/fdatasync per request, on the drive's thread, in ring order.
    case sync = "Sync"
    /// io_uring: reads and flushes are submitted and complete later (in any order), so many are
    /// in flight at once; completions wake the drive's thread through an eventfd in its epoll
    /// loop. Writes the file cannot take without blocking run as on `sync` (AsyncBlockEngine).
    case async = "Async"
}
