import Synchronization

/// What a virtio-blk device has done, for the VMM's metrics endpoint. Counted with relaxed
/// atomics: each number is exact, but a snapshot is not one instant across all of them.
public struct BlockCounters: Equatable, Sendable {
    /// Chains taken from the queue, whatever became of them.
    public var requests: UInt64 = 0
    public var readRequests: UInt64 = 0
    public var writeRequests: UInt64 = 0
    public var flushes: UInt64 = 0
    public var getIDs: UInt64 = 0
    /// Bytes read from the backend into the guest, and written from the guest to the backend.
    public var bytesRead: UInt64 = 0
    public var bytesWritten: UInt64 = 0
    /// Requests answered VIRTIO_BLK_S_IOERR: bad layout, out of range, read-only, host errors.
    public var ioErrors: UInt64 = 0
    /// Requests answered VIRTIO_BLK_S_UNSUPP.
    public var unsupported: UInt64 = 0
    /// Chains with no usable status byte (bad descriptors, no status descriptor): returned
    /// with a used length of 0 and no status.
    public var malformedChains: UInt64 = 0
    /// Times the rate limiter held a request back (Firecracker's `rate_limiter_throttled_events`).
    public var rateLimiterThrottledEvents: UInt64 = 0

    public init() {}
}

final class BlockMetrics: Sendable {
    let requests = Atomic<UInt64>(0)
    let readRequests = Atomic<UInt64>(0)
    let writeRequests = Atomic<UInt64>(0)
    let flushes = Atomic<UInt64>(0)
    let getIDs = Atomic<UInt64>(0)
    let bytesRead = Atomic<UInt64>(0)
    let bytesWritten = Atomic<UInt64>(0)
    let ioErrors = Atomic<UInt64>(0)
    let unsupported = Atomic<UInt64>(0)
    let malformedChains = Atomic<UInt64>(0)

    var snapshot: BlockCounters {
        var counters = BlockCounters()
        counters.requests = requests.load(ordering: .relaxed)
        counters.readRequests = readRequests.load(ordering: .relaxed)
        counters.writeRequests = writeRequests.load(ordering: .relaxed)
        counters.flushes = flushes.load(ordering: .relaxed)
        counters.getIDs = getIDs.load(ordering: .relaxed)
        counters.bytesRead = bytesRead.load(ordering: .relaxed)
        counters.bytesWritten = bytesWritten.load(ordering: .relaxed)
        counters.ioErrors = ioErrors.load(ordering: .relaxed)
        counters.unsupported = unsupported.load(ordering: .relaxed)
        counters.malformedChains = malformedChains.load(ordering: .relaxed)
        return counters
    }
}

extension Atomic where Value == UInt64 {
    func increment(by amount: UInt64 = 1) { wrappingAdd(amount, ordering: .relaxed) }
}
