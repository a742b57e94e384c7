import GuestMemory
#if canImport(Glibc)
import Glibc
#endif

/// The receive side of virtio-net: RX chains the device has taken from the guest and not yet
/// filled, laid out as one scatter list so the backend reads a frame straight into them.
///
/// Chains stay held between frames (and between calls) rather than being put back: a chain
/// the device took is its to return, in any order (2.7.14). Without MRG_RXBUF each frame gets
/// exactly one chain; with it, chains are gathered until they hold the largest frame (64 KiB
/// TSO plus header), a frame fills them in order, and `num_buffers` tells the guest how many
/// it used. When the guest has not posted enough, nothing is read: frames wait in the backend.
///
/// Touched only by the thread processing the RX queue, under its lock; buffers are allocated
/// once, so receiving allocates nothing.
final class NetReceiver {
    struct HeldChain {
        var head: UInt16
        var firstBuffer: Int
        var bufferCount: Int
        var capacity: Int
    }

    enum Outcome: Equatable {
        /// The budget ran out with frames possibly left; the backend stays watched.
        case budgetSpent
        /// The backend has no frame waiting.
        case backendEmpty
        /// The guest posted too few buffers for the next frame: stop reading until it posts more.
        case needBuffers
        /// The backend failed (or reached its end): stop reading until the guest kicks RX.
        case backendFailed
        /// The rate limiter refused the next frame: stop reading until its timer fires.
        case rateLimited
    }

    /// readv takes at most IOV_MAX (1024) buffers; Linux posts one descriptor per RX chain.
    static let maxBuffers = 1024

    private let buffers: UnsafeMutableBufferPointer<iovec>
    private let chains: UnsafeMutableBufferPointer<HeldChain>
    private var chainCount = 0
    private var bufferCount = 0
    private var capacity = 0

    init(queueSize: UInt16) {
        buffers = .allocate(capacity: Self.maxBuffers)
        buffers.initialize(repeating: iovec(iov_base: nil, iov_len: 0))
        chains = .allocate(capacity: Int(queueSize))
        chains.initialize(repeating: HeldChain(head: 0, firstBuffer: 0, bufferCount: 0, capacity: 0))
    }

    deinit {
        buffers.deallocate()
        chains.deallocate()
    }

    /// Forgets held chains: after a device reset their queue no longer exists.
    func reset() {
        chainCount = 0
        bufferCount = 0
        capacity = 0
    }

    /// The heads of the chains held, in the order frames will fill them (for a snapshot).
    var heldHeads: [UInt16] { (0..<chainCount).map { chains[$0].head } }

    /// Holds the chains at `heads` again, in order, as a restored device must: their buffers
    /// are at new host addresses. False (holding nothing) if one of them cannot be held, i.e.
    /// `heads` is not what a receiver could have held.
    func hold(heads: [UInt16], queue: SplitQueue, memory: GuestMemory) -> Bool {
        reset()
        for head in heads {
            guard chainCount < chains.count, var chain = queue.heldChain(head: head, memory: memory),
                  hold(&chain, memory: memory) else {
                reset()
                return false
            }
        }
        return true
    }

    /// Moves up to `budget` frames from `backend` into the guest, each admitted by `limiter`
    /// first (so a refused frame stays in the backend and the RX ring is left as it is) and
    /// charged with its length without the virtio header.
    func receive(queue: inout SplitQueue, memory: GuestMemory, backend: any NetBackend, mergeable: Bool,
                 limiter: RateLimiter, metrics: NetMetrics, budget: Int) throws(QueueError) -> Outcome {
        for _ in 0..<budget {
            guard limiter.admit() else { return .rateLimited }
            try takeChains(queue: &queue, memory: memory, mergeable: mergeable, metrics: metrics)
            guard mergeable ? capacity >= NetHeader.maxFrameWithHeader : chainCount > 0 else {
                metrics.rxPauses.increment()
                return .needBuffers
            }
            let received: Int?
            do {
                received = try backend.receive(into: UnsafeBufferPointer(rebasing: buffers[0..<bufferCount]))
            } catch {
                metrics.rxErrors.increment()
                return .backendFailed
            }
            guard let length = received else { return .backendEmpty }
            guard length >= NetHeader.size else {
                // End of file (a socket backend) or a runt no TAP produces: nothing to hand over;
                // the held chains stay held.
                metrics.rxErrors.increment()
                if length == 0 { return .backendFailed }
                continue
            }
            try deliver(length, queue: &queue, memory: memory)
            let bytes = UInt64(length - NetHeader.size)
            limiter.charge(bytes: bytes)
            metrics.rxFrames.increment()
            metrics.rxBytes.increment(by: bytes)
        }
        return .budgetSpent
    }

    /// Takes available chains until one frame surely fits (or one chain, without MRG_RXBUF).
    private func takeChains(queue: inout SplitQueue, memory: GuestMemory, mergeable: Bool,
                            metrics: NetMetrics) throws(QueueError) {
        while mergeable ? capacity < NetHeader.maxFrameWithHeader : chainCount == 0 {
            guard chainCount < chains.count, var chain = try queue.popChain(memory: memory) else { return }
            if !hold(&chain, memory: memory) {
                metrics.rxMalformed.increment()
                try queue.addUsed(head: chain.head, length: 0, memory: memory)
            }
        }
    }

    /// Appends the chain's buffers to the scatter list; false (and nothing appended) when the
    /// chain is unusable: a device-readable or invalid descriptor, too many descriptors, or
    /// too small for the header.
    private func hold(_ chain: inout DescriptorChain, memory: GuestMemory) -> Bool {
        let first = bufferCount
        var total = 0
        do {
            while let descriptor = try chain.next() {
                guard descriptor.isDeviceWritable, bufferCount < buffers.count else {
                    bufferCount = first
                    return false
                }
                guard descriptor.length > 0 else { continue }
                // The chain walk checked that the buffer lies inside RAM.
                let slice = try memory.slice(at: descriptor.address, count: Int(descriptor.length))
                buffers[bufferCount] = iovec(iov_base: slice.baseAddress, iov_len: slice.count)
                bufferCount += 1
                total += slice.count  // at most 1024 buffers of < 4 GiB: no overflow
            }
        } catch {
            bufferCount = first
            return false
        }
        guard total >= NetHeader.size else {
            bufferCount = first
            return false
        }
        chains[chainCount] = HeldChain(head: chain.head, firstBuffer: first, bufferCount: bufferCount - first,
                                       capacity: total)
        chainCount += 1
        capacity += total
        return true
    }

    /// Returns the chains a `length`-byte frame filled, in order, with num_buffers set in its
    /// header; keeps the rest for the next frame.
    private func deliver(_ length: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        var used = 0
        var covered = 0
        while covered < length, used < chainCount {
            covered += chains[used].capacity
            used += 1
        }
        writeNumBuffers(UInt16(used))
        var remaining = length
        for index in 0..<used {
            let part = min(chains[index].capacity, remaining)
            remaining -= part
            try queue.addUsed(head: chains[index].head, length: UInt32(part), memory: memory)
        }
        dropFront(used)
    }

    /// num_buffers sits at bytes 10-11 of the header, which may straddle buffers.
    /// The first chain holds at least the 12 header bytes, so the walk stays inside it.
    private func writeNumBuffers(_ count: UInt16) {
        storeHeaderByte(UInt8(truncatingIfNeeded: count), at: NetHeader.numBuffersOffset)
        storeHeaderByte(UInt8(truncatingIfNeeded: count >> 8), at: NetHeader.numBuffersOffset + 1)
    }

    private func storeHeaderByte(_ byte: UInt8, at headerOffset: Int) {
        var offset = headerOffset
        var index = chains[0].firstBuffer
        while offset >= buffers[index].iov_len {
            offset -= buffers[index].iov_len
            index += 1
        }
        buffers[index].iov_base!.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
    }

    /// Shifts the chains after the first `count` (and their buffers) to the front.
    private func dropFront(_ count: Int) {
        guard count < chainCount else {
            reset()
            return
        }
        for index in 0..<count { capacity -= chains[index].capacity }
        let firstKept = chains[count].firstBuffer
        for index in count..<chainCount {
            var chain = chains[index]
            chain.firstBuffer -= firstKept
            chains[index - count] = chain
        }
        for index in firstKept..<bufferCount { buffers[index - firstKept] = buffers[index] }
        chainCount -= count
        bufferCount -= firstKept
    }
}
