import GuestMemory
#if canImport(Glibc)
import Glibc
#endif

/// The buffers of one vsock descriptor chain, seen as one byte stream: header at offset 0,
/// payload after it, each possibly split across descriptors (Linux sends header and payload
/// in separate descriptors on TX and one buffer per packet on RX; both are allowed).
///
/// Storage is allocated once for the largest queue, so gathering a chain and building the
/// iovecs for readv/writev never allocates.
final class VsockChainBuffers {
    private var buffers: UnsafeMutableBufferPointer<UnsafeMutableRawBufferPointer>
    private let iovecs: UnsafeMutableBufferPointer<iovec>
    private(set) var count = 0
    /// Total bytes of the gathered buffers (at most queue size × 4 GiB, so no overflow in Int).
    private(set) var totalLength = 0

    init(capacity: Int) {
        buffers = .allocate(capacity: capacity)
        buffers.initialize(repeating: UnsafeMutableRawBufferPointer(start: nil, count: 0))
        iovecs = .allocate(capacity: capacity)
        iovecs.initialize(repeating: iovec())
    }

    deinit {
        buffers.deallocate()
        iovecs.deallocate()
    }

    /// Collects the chain's buffers; false for a malformed chain (a descriptor error, or a
    /// buffer of the wrong direction: TX chains are device-readable, RX chains device-writable).
    func gather(_ chain: inout DescriptorChain, deviceWritable: Bool, memory: GuestMemory) -> Bool {
        count = 0
        totalLength = 0
        do {
            while let descriptor = try chain.next() {
                guard descriptor.isDeviceWritable == deviceWritable, count < buffers.count else { return false }
                guard descriptor.length > 0 else { continue }
                buffers[count] = try memory.slice(at: descriptor.address, count: Int(descriptor.length))
                totalLength += Int(descriptor.length)
                count += 1
            }
        } catch {
            return false
        }
        return true
    }

    /// Copies `destination.count` bytes starting at `offset` of the chain; the caller made sure
    /// they exist.
    func copy(from offset: Int, into destination: UnsafeMutableRawBufferPointer) {
        forEachSegment(from: offset, length: destination.count) { chain, done, n in
            (destination.baseAddress! + done).copyMemory(from: chain, byteCount: n)
        }
    }

    /// Writes `source` into the chain starting at `offset`; the caller made sure it fits.
    func copy(_ source: UnsafeRawBufferPointer, to offset: Int) {
        forEachSegment(from: offset, length: source.count) { chain, done, n in
            chain.copyMemory(from: source.baseAddress! + done, byteCount: n)
        }
    }

    /// Calls `body(chain pointer, bytes done so far, segment length)` for each piece of the
    /// chain's `[offset, offset + length)`, in order.
    private func forEachSegment(from offset: Int, length: Int,
                                _ body: (UnsafeMutableRawPointer, Int, Int) -> Void) {
        var skip = offset, done = 0
        for index in 0..<count where done < length {
            let buffer = buffers[index]
            if skip >= buffer.count { skip -= buffer.count; continue }
            let n = min(buffer.count - skip, length - done)
            body(buffer.baseAddress! + skip, done, n)
            done += n
            skip = 0
        }
    }

    /// iovecs covering `[offset, offset + length)` of the chain, for readv/writev straight
    /// between guest memory and a host socket (no copy in the VMM).
    func iovecs(from offset: Int, length: Int) -> UnsafeMutableBufferPointer<iovec> {
        var skip = offset, remaining = length, used = 0
        for index in 0..<count where remaining > 0 {
            let buffer = buffers[index]
            if skip >= buffer.count { skip -= buffer.count; continue }
            let n = min(buffer.count - skip, remaining)
            iovecs[used] = iovec(iov_base: buffer.baseAddress! + skip, iov_len: n)
            used += 1
            remaining -= n
            skip = 0
        }
        return UnsafeMutableBufferPointer(rebasing: iovecs[0..<used])
    }
}
