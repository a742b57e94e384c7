import GuestMemory
#if canImport(Glibc)
import Glibc
#endif

/// The transmit side of virtio-net: each TX chain (header + frame, device-readable) goes to
/// the backend as one gathered write straight from guest memory.
///
/// A chain is checked as a whole before anything is sent: every descriptor device-readable
/// and inside RAM, at least the 12-byte header, at most 65562 bytes in all. Anything else is
/// dropped and counted. Every chain is returned with used length 0 (the device writes
/// nothing). A chain the rate limiter refuses is put back in the ring, untouched, for when
/// its timer fires. Touched only under the TX queue's lock; the scatter list is allocated once.
final class NetTransmitter {
    private let buffers: UnsafeMutableBufferPointer<iovec>

    /// A chain never has more descriptors than the queue (the chain walk's budget).
    init(queueSize: UInt16) {
        buffers = .allocate(capacity: Int(queueSize))
        buffers.initialize(repeating: iovec(iov_base: nil, iov_len: 0))
    }

    deinit { buffers.deallocate() }

    func transmit(queue: inout SplitQueue, memory: GuestMemory, backend: any NetBackend,
                  limiter: RateLimiter, metrics: NetMetrics) throws(QueueError) {
        while var chain = try queue.popChain(memory: memory) {
            guard limiter.admit() else {
                queue.undoPop()
                return
            }
            let bytes = send(&chain, memory: memory, backend: backend, metrics: metrics)
            try queue.addUsed(head: chain.head, length: 0, memory: memory)
            limiter.charge(bytes: bytes)
        }
    }

    /// Sends the chain's frame; returns its length without the header, what it costs the
    /// limiter (0 for a dropped chain, which still costs an op).
    private func send(_ chain: inout DescriptorChain, memory: GuestMemory, backend: any NetBackend,
                      metrics: NetMetrics) -> UInt64 {
        guard let (count, length) = gather(&chain, memory: memory) else {
            metrics.txMalformed.increment()
            return 0
        }
        let bytes = UInt64(length - NetHeader.size)
        do {
            try backend.send(UnsafeBufferPointer(rebasing: buffers[0..<count]))
        } catch {
            metrics.txErrors.increment()
            return bytes
        }
        metrics.txFrames.increment()
        metrics.txBytes.increment(by: bytes)
        return bytes
    }

    /// The chain's buffers and total length, or nil when the chain must be dropped.
    private func gather(_ chain: inout DescriptorChain, memory: GuestMemory) -> (count: Int, length: Int)? {
        var count = 0
        var length = 0
        do {
            while let descriptor = try chain.next() {
                guard !descriptor.isDeviceWritable, count < buffers.count else { return nil }
                // Compared before adding, so a huge descriptor cannot overflow the sum.
                guard Int(descriptor.length) <= NetHeader.maxFrameWithHeader - length else { return nil }
                guard descriptor.length > 0 else { continue }
                let slice = try memory.slice(at: descriptor.address, count: Int(descriptor.length))
                buffers[count] = iovec(iov_base: slice.baseAddress, iov_len: slice.count)
                count += 1
                length += slice.count
            }
        } catch {
            return nil
        }
        guard length >= NetHeader.size else { return nil }
        return (count, length)
    }
}
