import Synchronization

/// What a virtio-net device has done, for the VMM's metrics. Relaxed atomics: each number is
/// exact, a snapshot is not one instant across all of them.
public struct NetCounters: Equatable, Sendable {
    /// Frames (and their bytes, virtio header excluded) handed to the guest.
    public var rxFrames: UInt64 = 0
    public var rxBytes: UInt64 = 0
    /// Frames (and their bytes, header excluded) the guest sent to the backend.
    public var txFrames: UInt64 = 0
    public var txBytes: UInt64 = 0
    /// TX chains dropped for their shape: shorter than the header, larger than 65562 bytes,
    /// a device-writable or invalid descriptor.
    public var txMalformed: UInt64 = 0
    /// TX frames the backend refused (e.g. a header the TAP rejects).
    public var txErrors: UInt64 = 0
    /// RX chains returned unused for their shape: device-readable, invalid, too small for
    /// the header or with too many descriptors.
    public var rxMalformed: UInt64 = 0
    /// Backend read failures (and end of file from a socket backend).
    public var rxErrors: UInt64 = 0
    /// Times receiving stopped because the guest had posted too few RX buffers; frames then
    /// wait in the backend until the guest posts more.
    public var rxPauses: UInt64 = 0
    /// Times the receive and the transmit rate limiter held a frame back.
    public var rxRateLimiterThrottled: UInt64 = 0
    public var txRateLimiterThrottled: UInt64 = 0

    public init() {}
}

final class NetMetrics: Sendable {
    let rxFrames = Atomic<UInt64>(0)
    let rxBytes = Atomic<UInt64>(0)
    let txFrames = Atomic<UInt64>(0)
    let txBytes = Atomic<UInt64>(0)
    let txMalformed = Atomic<UInt64>(0)
    let txErrors = Atomic<UInt64>(0)
    let rxMalformed = Atomic<UInt64>(0)
    let rxErrors = Atomic<UInt64>(0)
    let rxPauses = Atomic<UInt64>(0)

    var snapshot: NetCounters {
        var counters = NetCounters()
        counters.rxFrames = rxFrames.load(ordering: .relaxed)
        counters.rxBytes = rxBytes.load(ordering: .relaxed)
        counters.txFrames = txFrames.load(ordering: .relaxed)
        counters.txBytes = txBytes.load(ordering: .relaxed)
        counters.txMalformed = txMalformed.load(ordering: .relaxed)
        counters.txErrors = txErrors.load(ordering: .relaxed)
        counters.rxMalformed = rxMalformed.load(ordering: .relaxed)
        counters.rxErrors = rxErrors.load(ordering: .relaxed)
        counters.rxPauses = rxPauses.load(ordering: .relaxed)
        return counters
    }
}
