import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// A disk image (regular file or block device) accessed with preadv/pwritev/fdatasync on one
/// file descriptor (or through the device's io_uring, which borrows `fileDescriptor`), which this object owns. Positional calls need no shared file offset, so
/// the object is safe to use from any thread.
public final class FileBlockBackend: BlockBackend {
    public let size: UInt64
    public let isReadOnly: Bool
    private let fd: Int32

    /// Opens `path` read-write, or read-only (then the guest sees a read-only disk and no
    /// write can reach the file even if the device had a bug).
    public convenience init(path: String, readOnly: Bool) throws(BlockIOError) {
        let fd = open(path, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        guard fd >= 0 else { throw .open(path: path, errno: errno) }
        try self.init(adopting: fd, readOnly: readOnly)
    }

    /// Takes ownership of `fd` (closed on deinit, or now if this throws). Size is found with
    /// lseek rather than fstat so that a block device reports its real size.
    public init(adopting fd: Int32, readOnly: Bool) throws(BlockIOError) {
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else {
            let error = errno
            close(fd)
            throw .system(.size, errno: error)
        }
        self.fd = fd
        size = UInt64(end)
        isReadOnly = readOnly
    }

    /// Takes ownership of `fd` whose size the caller knows: a descriptor lseek cannot size
    /// (tests put a FIFO behind the async engine to hold requests in flight at will).
    public init(adopting fd: Int32, size: UInt64, readOnly: Bool) {
        self.fd = fd
        self.size = size
        isReadOnly = readOnly
    }

    deinit { close(fd) }

    public var fileDescriptor: Int32? { fd }

    public func read(into segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64,
                     done: inout UInt64) throws(BlockIOError) {
        try transfer(.read, segments, at: offset, done: &done) { vectors, count, position in
            preadv(fd, vectors, count, position)
        }
    }

    public func write(from segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64,
                      done: inout UInt64) throws(BlockIOError) {
        try transfer(.write, segments, at: offset, done: &done) { vectors, count, position in
            pwritev(fd, vectors, count, position)
        }
    }

    /// One preadv/pwritev per request normally; more only when the kernel moves less than
    /// asked (a signal, a block device, end of file) or the request has more than
    /// `maxSegmentsPerCall` segments: then continue from the first byte not moved.
    private func transfer(_ operation: BlockIOError.Operation, _ segments: UnsafeMutableBufferPointer<iovec>,
                          at offset: UInt64, done: inout UInt64,
                          _ step: (UnsafePointer<iovec>, Int32, off_t) -> Int) throws(BlockIOError) {
        guard let base = segments.baseAddress else { return }
        var index = VectoredTransfer.advance(segments, from: 0, by: 0)
        while index < segments.count {
            let position = try fileOffset(offset, plus: done)
            let count = min(segments.count - index, VectoredTransfer.maxSegmentsPerCall)
            let result = step(base + index, Int32(count), position)
            if result < 0 {
                if errno == EINTR { continue }
                throw .system(operation, errno: errno)
            }
            if result == 0 { throw .endOfFile(operation, offset: offset &+ done) }
            done += UInt64(result)
            index = VectoredTransfer.advance(segments, from: index, by: result)
        }
    }

    /// preadv2/pwritev2 with RWF_NOWAIT: a page-cache hit is copied now, without the ring's
    /// round trip; a miss, a dirty-page throttle or a lock held elsewhere is EAGAIN. Some file
    /// systems take RWF_NOWAIT only for reads (ext4 refuses buffered writes with EOPNOTSUPP on
    /// Linux 6.18), tmpfs for neither, and a FIFO has no offsets (ESPIPE).
    public func readImmediately(into segments: UnsafeMutableBufferPointer<iovec>,
                                at offset: UInt64) -> ImmediateTransfer {
        immediately(segments, at: offset, kiln_preadv_nowait)
    }

    public func writeImmediately(from segments: UnsafeMutableBufferPointer<iovec>,
                                 at offset: UInt64) -> ImmediateTransfer {
        guard !isReadOnly else { return .unsupported }
        return immediately(segments, at: offset, kiln_pwritev_nowait)
    }

    private func immediately(_ segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64,
                             _ call: (Int32, UnsafeRawPointer?, Int32, Int64) -> Int) -> ImmediateTransfer {
        guard segments.count <= VectoredTransfer.maxSegmentsPerCall, let position = Int64(exactly: offset) else {
            return .wouldBlock
        }
        let result = call(fd, UnsafeRawPointer(segments.baseAddress), Int32(segments.count), position)
        if result >= 0 { return .moved(result) }
        switch Int32(-result) {
        case EOPNOTSUPP, EINVAL, ESPIPE: return .unsupported
        default: return .wouldBlock
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        guard let base = buffer.baseAddress else { return }
        try transfer(.read, count: buffer.count, at: offset) { done, position in
            pread(fd, base + done, buffer.count - done, position)
        }
    }

    public func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        guard let base = buffer.baseAddress else { return }
        try transfer(.write, count: buffer.count, at: offset) { done, position in
            pwrite(fd, base + done, buffer.count - done, position)
        }
    }

    /// Moves `count` bytes with `step(done, position)` (one pread/pwrite). A regular file moves
    /// less than asked only at its end, but a signal or a block device may cut a transfer
    /// short: continue until all is moved or no progress is made.
    private func transfer(_ operation: BlockIOError.Operation, count: Int, at offset: UInt64,
                          _ step: (Int, off_t) -> Int) throws(BlockIOError) {
        var done = 0
        while done < count {
            let position = try fileOffset(offset, plus: done)
            let result = step(done, position)
            if result < 0 {
                if errno == EINTR { continue }
                throw .system(operation, errno: errno)
            }
            if result == 0 { throw .endOfFile(operation, offset: offset + UInt64(done)) }
            done += result
        }
    }

    public func flush() throws(BlockIOError) {
        while fdatasync(fd) != 0 {
            if errno != EINTR { throw .system(.flush, errno: errno) }
        }
    }

    private func fileOffset(_ offset: UInt64, plus done: Int) throws(BlockIOError) -> off_t {
        try fileOffset(offset, plus: UInt64(done))
    }

    private func fileOffset(_ offset: UInt64, plus done: UInt64) throws(BlockIOError) -> off_t {
        let (sum, overflow) = offset.addingReportingOverflow(done)
        guard !overflow, let position = off_t(exactly: sum) else { throw .offsetTooLarge(offset) }
        return position
    }
}
