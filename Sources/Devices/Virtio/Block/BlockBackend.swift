#if canImport(Glibc)
import Glibc
#endif

/// Where a virtio-blk device's sectors live. A class so a backend can own a file descriptor;
/// `Sendable` because the device thread and the VMM both hold it.
///
/// Every call moves the whole buffer or throws: a backend never reports partial success, so
/// short I/O cannot be mistaken for a completed request.
public protocol BlockBackend: AnyObject, Sendable {
    /// Size in bytes, read when the device is built (or the backend replaces another).
    var size: UInt64 { get }
    /// A read-only backend makes a read-only disk (VIRTIO_BLK_F_RO).
    var isReadOnly: Bool { get }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(BlockIOError)
    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(BlockIOError)
    /// Makes every completed write durable (fdatasync for a file).
    func flush() throws(BlockIOError)

    /// Fills `segments` in order from `offset`: a request's whole data in one host call where
    /// the backend can (preadv). `done` counts the bytes moved, also when this throws; the
    /// segments may be consumed in place. Default: one `read` per segment.
    func read(into segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64,
              done: inout UInt64) throws(BlockIOError)
    /// Writes `segments` in order at `offset` (pwritev), like the vectored read.
    func write(from segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64,
               done: inout UInt64) throws(BlockIOError)
    /// The file the async engine submits I/O on; nil (the default) keeps the backend on the
    /// synchronous path whatever the drive's engine.
    var fileDescriptor: Int32? { get }

    /// The async engine's fast path: moves what can be moved without waiting for the disk (a
    /// page-cache hit) in one call, or says it would wait; the engine submits what is left to
    /// its ring. Default: `.unsupported`.
    func readImmediately(into segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64) -> ImmediateTransfer
    func writeImmediately(from segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64) -> ImmediateTransfer
}

/// What an attempt to transfer without blocking did.
public enum ImmediateTransfer: Equatable, Sendable {
    /// `bytes` moved from the start of the segments (fewer than asked: the rest would have waited).
    case moved(Int)
    /// Nothing moved without waiting, or the call failed: the ring does the transfer, and its
    /// result is the answer.
    case wouldBlock
    /// This backend cannot transfer this way in this direction (the file system refuses
    /// RWF_NOWAIT, or the file is not seekable): not worth a system call per request again.
    case unsupported
}

extension BlockBackend {
    public var fileDescriptor: Int32? { nil }

    public func readImmediately(into segments: UnsafeMutableBufferPointer<iovec>,
                                at offset: UInt64) -> ImmediateTransfer { .unsupported }
    public func writeImmediately(from segments: UnsafeMutableBufferPointer<iovec>,
                                 at offset: UInt64) -> ImmediateTransfer { .unsupported }

    public func read(into segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64,
                     done: inout UInt64) throws(BlockIOError) {
        for segment in segments where segment.iov_len > 0 {
            guard let base = segment.iov_base else { continue }
            try read(into: UnsafeMutableRawBufferPointer(start: base, count: segment.iov_len), at: offset + done)
            done += UInt64(segment.iov_len)
        }
    }

    public func write(from segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64,
                      done: inout UInt64) throws(BlockIOError) {
        for segment in segments where segment.iov_len > 0 {
            guard let base = segment.iov_base else { continue }
            try write(UnsafeRawBufferPointer(start: base, count: segment.iov_len), at: offset + done)
            done += UInt64(segment.iov_len)
        }
    }
}

/// A host I/O failure. The guest only ever sees VIRTIO_BLK_S_IOERR; this is for the VMM's
/// logs and tests.
public enum BlockIOError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Operation: String, Sendable { case open, size, read, write, flush, ring }

    /// The system call failed with `errno`.
    case system(Operation, errno: Int32)
    /// A read or write made no progress at `offset` (end of file, e.g. the image shrank).
    case endOfFile(Operation, offset: UInt64)
    /// The offset does not fit `off_t`.
    case offsetTooLarge(UInt64)
    /// Opening `path` failed.
    case open(path: String, errno: Int32)

    public var description: String {
        switch self {
        case let .system(operation, errno): "block \(operation.rawValue) failed (errno \(errno))"
        case let .endOfFile(operation, offset): "block \(operation.rawValue) hit end of file at \(offset)"
        case let .offsetTooLarge(offset): "block offset \(offset) does not fit off_t"
        case let .open(path, errno): "cannot open block image \(path) (errno \(errno))"
        }
    }
}
