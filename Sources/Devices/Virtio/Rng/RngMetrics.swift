import Synchronization

/// What a virtio-rng device has done.
public struct RngCounters: Equatable, Sendable {
    /// Chains taken from the queue.
    public var requests: UInt64 = 0
    /// Random bytes written into guest buffers.
    public var bytes: UInt64 = 0
    /// Chains refused (a device-readable or invalid descriptor) or cut short by the source.
    public var errors: UInt64 = 0

    public init(requests: UInt64 = 0, bytes: UInt64 = 0, errors: UInt64 = 0) {
        self.requests = requests
        self.bytes = bytes
        self.errors = errors
    }
}

final class RngMetrics: Sendable {
    let requests = Atomic<UInt64>(0)
    let bytes = Atomic<UInt64>(0)
    let errors = Atomic<UInt64>(0)

    var snapshot: RngCounters {
        var counters = RngCounters()
        counters.requests = requests.load(ordering: .relaxed)
        counters.bytes = bytes.load(ordering: .relaxed)
        counters.errors = errors.load(ordering: .relaxed)
        return counters
    }
}
