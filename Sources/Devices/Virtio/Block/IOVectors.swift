import GuestMemory
#if canImport(Glibc)
import Glibc
#endif

/// A preallocated array of `iovec`s pointing into guest memory: a request's data buffers
/// handed to the host in one `preadv`/`pwritev` (or one io_uring submission). Owned by the
/// device and allocated once at construction, so building a request allocates nothing.
///
/// Only the device's work lock guards it; `@unchecked Sendable` because it holds a pointer.
struct IOVectors: ~Copyable, @unchecked Sendable {
    let base: UnsafeMutablePointer<iovec>
    let capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        precondition(capacity > 0)
        base = .allocate(capacity: capacity)
        base.initialize(repeating: iovec(), count: capacity)
        self.capacity = capacity
    }

    deinit { base.deallocate() }

    mutating func removeAll() { count = 0 }

    /// Forgets the last `k` vectors (a request the fast path finished needs no submission).
    mutating func removeLast(_ k: Int) {
        precondition(k >= 0 && k <= count)
        count -= k
    }

    /// Empties the array and fills it with `chain[range]`: one request's data, for the sync
    /// engine (which is done with the vectors when the call returns).
    mutating func take(_ chain: borrowing [Descriptor], _ range: Range<Int>,
                       memory: GuestMemory) -> UnsafeMutableBufferPointer<iovec>? {
        removeAll()
        guard let start = append(chain, range, memory: memory) else { return nil }
        return segments(from: start)
    }

    /// The vectors appended since `start`, for one host call.
    func segments(from start: Int) -> UnsafeMutableBufferPointer<iovec> {
        UnsafeMutableBufferPointer(start: base + start, count: count - start)
    }

    /// Appends the host view of `chain[range]` (guest buffers); nil if a buffer is not wholly in
    /// guest RAM or the array is full. The descriptors were checked when the chain was walked;
    /// `slice` checks again, with overflow-safe arithmetic, so no guest value reaches the host
    /// unchecked.
    mutating func append(_ chain: borrowing [Descriptor], _ range: Range<Int>,
                         memory: GuestMemory) -> Int? {
        let start = count
        guard range.count <= capacity - count else { return nil }
        for index in range {
            guard let buffer = try? memory.slice(at: chain[index].address, count: Int(chain[index].length)) else {
                count = start
                return nil
            }
            base[count] = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
            count += 1
        }
        return start
    }
}

/// How a host transfer over several segments went: bytes moved before it ended or failed.
struct VectoredTransfer {
    /// Most iovecs one preadv/pwritev takes (Linux's UIO_MAXIOV); longer requests are split.
    static let maxSegmentsPerCall = 1024

    /// Drops the first `moved` bytes from `segments` in place (a short transfer is continued
    /// from there) and returns the index of the first segment with bytes left.
    static func advance(_ segments: UnsafeMutableBufferPointer<iovec>, from first: Int, by moved: Int) -> Int {
        var index = first, remaining = moved
        while index < segments.count, remaining >= segments[index].iov_len {
            remaining -= segments[index].iov_len
            index += 1
        }
        if remaining > 0 {
            segments[index].iov_base = segments[index].iov_base.map { $0 + remaining }
            segments[index].iov_len -= remaining
        }
        // Empty segments (zero-length descriptors) would make the next call return 0, read as
        // end of file: skip them.
        while index < segments.count, segments[index].iov_len == 0 { index += 1 }
        return index
    }
}
