import GuestMemory
#if canImport(Glibc)
import Glibc
#endif

/// RX chains taken after the first one so that a single readv of a host socket fills them
/// all. Linux posts 4 KiB RX buffers; one read per buffer cost a system call per 4 KiB, which
/// dominated host-to-guest streaming.
///
/// The first chain stays in the muxer's `rxBuffers`; this holds the ones after it, each with
/// room for a few descriptors (Linux uses two: header and payload). A chain that does not fit
/// that, or is malformed, ends the batch and goes back to the ring for the normal path.
/// Everything is allocated once; taking, filling and publishing never allocate.
final class VsockRxBatch {
    /// Chains taken after the first, at most.
    static let maxExtraChains = 31
    /// Bytes one read may bring, across all chains.
    static let maxBytes = 128 * 1024
    static let maxDescriptorsPerChain = 4

    private let chains: [VsockChainBuffers]
    private let heads: UnsafeMutableBufferPointer<UInt16>
    /// Per taken chain: its payload room after `take`, the bytes it got after `distribute`.
    private let payloadSizes: UnsafeMutableBufferPointer<Int>
    private let vectors: UnsafeMutableBufferPointer<iovec>
    private var vectorCount = 0
    /// Chains taken from the ring (all unconsumed until `distribute`).
    private var takenCount = 0
    /// Chains given payload by `distribute`, waiting for `publish`.
    private var filledCount = 0

    init(firstChainCapacity: Int) {
        chains = (0..<Self.maxExtraChains).map { _ in VsockChainBuffers(capacity: Self.maxDescriptorsPerChain) }
        heads = .allocate(capacity: Self.maxExtraChains)
        heads.initialize(repeating: 0)
        payloadSizes = .allocate(capacity: Self.maxExtraChains)
        payloadSizes.initialize(repeating: 0)
        vectors = .allocate(capacity: firstChainCapacity + Self.maxExtraChains * Self.maxDescriptorsPerChain)
        vectors.initialize(repeating: iovec())
    }

    deinit {
        heads.deallocate()
        payloadSizes.deallocate()
        vectors.deallocate()
    }

    /// Starts a batch with the first chain's payload iovecs.
    func start(with firstPayload: UnsafeMutableBufferPointer<iovec>) {
        clear()
        append(firstPayload)
    }

    /// Forgets any batch; for a device reset, or a ring error that cut one short.
    func clear() {
        takenCount = 0
        filledCount = 0
        vectorCount = 0
    }

    /// Takes further chains while `budget` payload bytes remain; returns the payload room it
    /// added. Stops at an empty ring, at the limits, or at a chain it cannot hold (given back).
    func take(_ queue: inout SplitQueue, memory: GuestMemory, budget: Int, maxPayload: Int) throws(QueueError) -> Int {
        var remaining = min(budget, Self.maxBytes)
        var added = 0
        while remaining > 0, takenCount < Self.maxExtraChains, var chain = try queue.popChain(memory: memory) {
            let buffers = chains[takenCount]
            guard buffers.gather(&chain, deviceWritable: true, memory: memory),
                  buffers.totalLength > VsockHeader.size else {
                queue.undoPop()
                break
            }
            let room = min(buffers.totalLength - VsockHeader.size, maxPayload, remaining)
            heads[takenCount] = chain.head
            payloadSizes[takenCount] = room
            takenCount += 1
            append(buffers.iovecs(from: VsockHeader.size, length: room))
            remaining -= room
            added += room
        }
        return added
    }

    /// The iovecs of every payload area in the batch, in stream order.
    var payloadVectors: UnsafeMutableBufferPointer<iovec> {
        UnsafeMutableBufferPointer(rebasing: vectors[0..<vectorCount])
    }

    /// Hands `bytes` read past the first chain to the taken chains in order, writing each
    /// header with `header(length)`; chains left without bytes go back to the ring.
    func distribute(_ bytes: Int, _ queue: inout SplitQueue, header: (Int) -> VsockHeader,
                    scratch: UnsafeMutableRawBufferPointer) {
        var remaining = bytes
        filledCount = 0
        while remaining > 0, filledCount < takenCount {
            let length = min(remaining, payloadSizes[filledCount])
            header(length).store(to: scratch)
            chains[filledCount].copy(UnsafeRawBufferPointer(scratch), to: 0)
            payloadSizes[filledCount] = length
            remaining -= length
            filledCount += 1
        }
        giveBack(takenCount - filledCount, &queue)
    }

    /// Gives every taken chain back unfilled (the read brought nothing for them).
    func abandon(_ queue: inout SplitQueue) {
        giveBack(takenCount, &queue)
    }

    /// Puts the filled chains on the used ring, in order; call after the first chain's.
    func publish(_ queue: inout SplitQueue, memory: GuestMemory,
                 counters: inout VsockCounters) throws(QueueError) {
        defer { filledCount = 0 }
        for index in 0..<filledCount {
            let length = payloadSizes[index]
            try queue.addUsed(head: heads[index], length: UInt32(VsockHeader.size + length), memory: memory)
            counters.packetsToGuest += 1
            counters.bytesToGuest += UInt64(length)
        }
    }

    private func giveBack(_ count: Int, _ queue: inout SplitQueue) {
        if count > 0 { queue.undoPop(count: UInt16(count)) }
        takenCount = 0
    }

    private func append(_ source: UnsafeMutableBufferPointer<iovec>) {
        for vector in source {
            vectors[vectorCount] = vector
            vectorCount += 1
        }
    }
}
