/// How a virtio-blk device reaches its backing file (Firecracker's drive `io_engine`).
public enum BlockIOEngine: String, Sendable, CaseIterable {
    /// One preadv/pwritev/fdatasync per request, on the device thread, in ring order.
    case sync = "Sync"
    /// io_uring: requests are submitted and complete later (in any order) while the device
    /// thread serves other devices; completions wake it through an eventfd in its epoll loop.
    case async = "Async"
}
