import GuestMemory
import Synchronization

/// virtio-net (device ID 1, virtio 1.x 5.1) backed by a `NetBackend` (a TAP in the VMM).
///
/// Queues: 0 receive, 1 transmit. Config space: mac[6], status le16 (always LINK_UP).
/// Offers checksum and TSO offloads both ways and MRG_RXBUF, so a 64 KiB TSO frame crosses
/// in one piece; the guest's receive offloads are set on the backend at DRIVER_OK.
///
/// Receiving is driven by the backend's readiness (a handler on the device loop, which asks
/// the transport to service queue 0) and by RX kicks. When the guest has posted too few RX
/// buffers, or the transport will not drain RX (queue not ready, device needs reset), the
/// backend is unwatched (an empty mask) rather than read: frames wait in the TAP, nothing is
/// dropped here and nothing spins; the guest's next RX kick that the transport lets through
/// (also after a reset and re-initialisation) watches it again.
///
/// Two `RateLimiter`s: one gates frames read from the backend (the backend is unwatched in the
/// same way while it refuses, and its timer resumes receiving), one gates frames taken from
/// the TX ring (a refused frame stays in the ring until its timer fires).
public final class Net: EventDrivenDevice {
    public static let defaultQueueSize: UInt16 = 256
    public static let receiveQueue = 0
    public static let transmitQueue = 1
    /// Frames moved per call before the transport re-checks the ring (bounds one call's work).
    static let receiveBudget = 64
    static let statusLinkUp: UInt16 = 1

    public let deviceType = VirtioDeviceType.network
    public let features = NetFeature.offered
    public let queueMaxSizes: [UInt16]
    public let configSize = 8
    public let mac: MACAddress
    /// Frames from the backend to the guest; unlimited unless configured (or updated later).
    public let receiveRateLimiter: RateLimiter
    /// Frames from the guest to the backend; likewise.
    public let transmitRateLimiter: RateLimiter

    private let backend: any NetBackend
    private let config: [UInt8]
    private let metrics = NetMetrics()
    let receiver: Mutex<NetReceiver>
    private let transmitter: Mutex<NetTransmitter>
    private let active = Atomic<Bool>(false)
    private let mergeable = Atomic<Bool>(false)
    /// Set once by `connect`, before any vCPU runs; used on the device thread only.
    private nonisolated(unsafe) var events: (any DeviceEvents)?
    /// Whether the backend is unwatched (guest short of buffers, receive limiter, backend
    /// failure); changed on the device thread only.
    private let paused = Atomic<Bool>(false)

    /// A nil rate limiter makes an unlimited one, so that the VMM can limit any interface later.
    public init(backend: any NetBackend, mac: MACAddress, queueSize: UInt16 = defaultQueueSize,
                receiveRateLimiter: RateLimiter? = nil, transmitRateLimiter: RateLimiter? = nil) {
        self.backend = backend
        self.mac = mac
        self.receiveRateLimiter = receiveRateLimiter ?? .deviceDefault()
        self.transmitRateLimiter = transmitRateLimiter ?? .deviceDefault()
        queueMaxSizes = [queueSize, queueSize]
        var config = mac.array
        withUnsafeBytes(of: Self.statusLinkUp.littleEndian) { config += $0 }
        self.config = config
        receiver = Mutex(NetReceiver(queueSize: queueSize))
        transmitter = Mutex(NetTransmitter(queueSize: queueSize))
    }

    public var counters: NetCounters {
        var counters = metrics.snapshot
        counters.rxRateLimiterThrottled = receiveRateLimiter.throttledEvents
        counters.txRateLimiterThrottled = transmitRateLimiter.throttledEvents
        return counters
    }

    /// True while the backend is not being read: the guest lacks RX buffers, or the receive
    /// rate limiter refused the next frame.
    public var isReceivePaused: Bool { paused.load(ordering: .relaxed) }

    public func readConfig(offset: Int, into data: UnsafeMutableRawBufferPointer) {
        config.withUnsafeBytes { config in
            data.copyMemory(from: UnsafeRawBufferPointer(rebasing: config[offset..<offset + data.count]))
        }
    }

    /// A limiter's timer (its budget is back, or the VMM updated it) services its queue, which
    /// asks the limiter again and, for RX, watches the backend again if it may read.
    public func connect(events: any DeviceEvents) throws(DeviceEventsError) {
        try receiveRateLimiter.serviceOnTimer(Self.receiveQueue, through: events)
        try transmitRateLimiter.serviceOnTimer(Self.transmitQueue, through: events)
        try events.watch(backend.fileDescriptor, for: .readable) { [weak self] _ in self?.backendReadable() }
        self.events = events
    }

    public func activate(features: UInt64) throws(VirtioActivationError) {
        do {
            try backend.setOffloads(NetOffloads(guestFeatures: features))
        } catch {
            throw VirtioActivationError("network backend offloads: \(error)")
        }
        mergeable.store(features & NetFeature.mergeableRxBuffers != 0, ordering: .relaxed)
        active.store(true, ordering: .releasing)
    }

    /// No queue is being processed (the transport made sure), so the receiver can be cleared.
    public func reset() {
        active.store(false, ordering: .releasing)
        receiver.withLock { $0.reset() }
    }

    public func processQueue(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        switch index {
        case Self.receiveQueue:
            let outcome = try receiver.withLock { receiver throws(QueueError) in
                try receiver.receive(queue: &queue, memory: memory, backend: backend,
                                     mergeable: mergeable.load(ordering: .relaxed), limiter: receiveRateLimiter,
                                     metrics: metrics, budget: Self.receiveBudget)
            }
            // An RX kick (new buffers), a readable backend or the limiter's timer got us here:
            // read on unless the guest is short of buffers, the limiter refused (its timer is
            // armed) or the backend failed.
            setPaused(outcome != .budgetSpent && outcome != .backendEmpty)
        case Self.transmitQueue:
            try transmitter.withLock { transmitter throws(QueueError) in
                try transmitter.transmit(queue: &queue, memory: memory, backend: backend,
                                         limiter: transmitRateLimiter, metrics: metrics)
            }
        default:
            break
        }
    }

    /// The backend has a frame: have the transport service RX. Whenever the transport will not
    /// drain RX (before DRIVER_OK, after reset, an RX queue the guest never made ready, a device
    /// that needs reset, e.g. after a malformed RX chain) the frame stays in the backend and a
    /// level-triggered watch would fire again at once, forever: so pause until an RX kick
    /// reaches `processQueue`, which decides again.
    private func backendReadable() {
        let serviceable = active.load(ordering: .acquiring) && events?.serviceQueue(Self.receiveQueue) == true
        if !serviceable { setPaused(true) }
    }

    private func setPaused(_ pause: Bool) {
        guard let events, paused.load(ordering: .relaxed) != pause else { return }
        events.rewatch(backend.fileDescriptor, for: pause ? [] : .readable)
        paused.store(pause, ordering: .relaxed)
    }
}
