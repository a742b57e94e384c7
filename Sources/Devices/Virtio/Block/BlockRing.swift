import CKiln
import CURing
#if canImport(Glibc)
import Glibc
#endif

/// One device's io_uring and the eventfd its completions signal. Created with the device,
/// before any seccomp filter (io_uring_setup and io_uring_register are not in the devices
/// role); afterwards only io_uring_enter (submit) is called, and completions are read from
/// the shared ring without a system call.
///
/// Used only under the device's work lock; `@unchecked Sendable` because it holds the ring.
final class BlockRing: @unchecked Sendable {
    enum Operation: Int32 {
        case readv = 0, writev = 1, fdatasync = 2
    }

    private let ring: OpaquePointer
    /// Readable when completions are waiting; watched by the drive's loop.
    let eventFD: Int32

    /// - Parameter entries: submissions the ring holds; completions get twice as many, and the
    ///   device never has more than `entries` in flight, so none can overflow.
    init(entries: UInt32) throws(BlockIOError) {
        let eventFD = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        guard eventFD >= 0 else { throw .system(.ring, errno: errno) }
        var ring: OpaquePointer?
        let result = kiln_uring_create(entries, eventFD, &ring)
        guard result == 0, let ring else {
            close(eventFD)
            throw .system(.ring, errno: -result)
        }
        self.ring = ring
        self.eventFD = eventFD
    }

    deinit {
        // io_uring_queue_exit waits for (or cancels) what is still in flight.
        kiln_uring_destroy(ring)
        close(eventFD)
    }

    /// Queues one operation tagged `tag`; false if the submission queue is full.
    func prepare(_ operation: Operation, fd: Int32, segments: UnsafeMutableBufferPointer<iovec>?,
                 offset: UInt64, tag: UInt64) -> Bool {
        kiln_uring_prepare(ring, operation.rawValue, fd, segments?.baseAddress, UInt32(segments?.count ?? 0),
                           offset, tag) == 0
    }

    /// Whether an entry the kernel refuses leaves the rest of a submission going
    /// (IORING_SETUP_SUBMIT_ALL).
    var submitsAll: Bool { kiln_uring_submits_all(ring) == 1 }

    /// Submits what was prepared; -errno on failure.
    func submit() -> Int32 { kiln_uring_submit(ring) }

    /// One completion, if any is waiting (no system call).
    func reap() -> (tag: UInt64, result: Int32)? {
        var tag: UInt64 = 0, result: Int32 = 0
        guard kiln_uring_reap(ring, &tag, &result) == 1 else { return nil }
        return (tag, result)
    }

    /// Whether completions wait in the ring. Racy by design (read without the work lock): a
    /// completion it misses signals the eventfd again.
    var hasCompletions: Bool { kiln_uring_ready(ring) > 0 }

    /// Consumes the eventfd's count, so the loop sleeps until the next completion.
    func clearEvent() {
        var count: UInt64 = 0
        _ = read(eventFD, &count, 8)
    }
}
