#if canImport(Glibc)
import Glibc
#endif

/// Guest bytes the host socket would not take yet: a fixed ring of `capacity` bytes (the
/// connection's advertised buf_alloc), allocated the first time the host socket is full and
/// kept until the connection closes. The guest cannot send more than its credit, and its credit
/// is what is free here, so the ring never needs to grow.
final class VsockPendingBytes {
    let capacity: Int
    private let storage: UnsafeMutableRawBufferPointer
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    var isEmpty: Bool { count == 0 }
    var freeSpace: Int { capacity - count }

    /// Appends the bytes of `vectors`; the caller checked they fit.
    func append(_ vectors: UnsafeMutableBufferPointer<iovec>, skipping skip: Int) {
        var skip = skip
        for vector in vectors {
            var length = vector.iov_len, source = vector.iov_base!
            if skip >= length { skip -= length; continue }
            source += skip
            length -= skip
            skip = 0
            while length > 0 {
                let tail = (head + count) % capacity
                let n = min(length, capacity - tail)
                (storage.baseAddress! + tail).copyMemory(from: source, byteCount: n)
                count += n
                source += n
                length -= n
            }
        }
    }

    /// Up to two iovecs (the ring may wrap) over the queued bytes, written into `vectors`.
    func vectors(_ vectors: UnsafeMutableBufferPointer<iovec>) -> Int {
        guard count > 0 else { return 0 }
        let first = min(count, capacity - head)
        vectors[0] = iovec(iov_base: storage.baseAddress! + head, iov_len: first)
        guard first < count else { return 1 }
        vectors[1] = iovec(iov_base: storage.baseAddress!, iov_len: count - first)
        return 2
    }

    func consume(_ n: Int) {
        precondition(n <= count)
        head = (head + n) % capacity
        count -= n
        if count == 0 { head = 0 }
    }
}
