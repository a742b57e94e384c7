import GuestMemory

/// virtio-rng, Firecracker's "entropy" device (device ID 4, virtio 1.x 5.4): one request
/// queue of device-writable buffers, filled from the host's getrandom.
///
/// Each chain gets at most `maxBytesPerRequest` bytes, so one guest request cannot keep the
/// device thread busy for long. A chain with a device-readable or invalid descriptor is
/// returned with used length 0, as Firecracker does. No features, no config space.
///
/// A `RateLimiter` gates requests (one op and the bytes filled each), as Firecracker's entropy
/// device does; a refused request stays in the ring until the limiter's timer fires.
public final class Rng: EventDrivenDevice {
    public static let defaultQueueSize: UInt16 = 256
    public static let defaultMaxBytesPerRequest = 64 * 1024

    public let deviceType = VirtioDeviceType.entropy
    public let features: UInt64 = 0
    public let queueMaxSizes: [UInt16]
    public let configSize = 0
    public let maxBytesPerRequest: Int
    /// Gates requests; unlimited unless configured (or updated by the VMM later).
    public let rateLimiter: RateLimiter

    private let source: any EntropySource
    private let metrics = RngMetrics()

    public init(source: any EntropySource = SystemEntropySource(), queueSize: UInt16 = defaultQueueSize,
                maxBytesPerRequest: Int = defaultMaxBytesPerRequest, rateLimiter: RateLimiter? = nil) {
        precondition(maxBytesPerRequest > 0 && maxBytesPerRequest <= Int(UInt32.max))
        self.source = source
        self.maxBytesPerRequest = maxBytesPerRequest
        queueMaxSizes = [queueSize]
        self.rateLimiter = rateLimiter ?? .deviceDefault()
    }

    /// Watches the rate limiter's timer: when a limited queue may go on, it is serviced again.
    public func connect(events: any DeviceEvents) throws(DeviceEventsError) {
        try rateLimiter.serviceOnTimer(0, through: events)
    }

    public var counters: RngCounters { metrics.snapshot }

    public func readConfig(offset: Int, into data: UnsafeMutableRawBufferPointer) {}

    public func processQueue(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        while var chain = try queue.popChain(memory: memory) {
            guard rateLimiter.admit() else {
                queue.undoPop()
                return
            }
            metrics.requests.increment()
            let filled = fill(&chain, memory: memory)
            metrics.bytes.increment(by: UInt64(filled))
            try queue.addUsed(head: chain.head, length: UInt32(filled), memory: memory)
            rateLimiter.charge(bytes: UInt64(filled))
        }
    }

    /// Bytes of entropy written into the chain's buffers, in chain order.
    private func fill(_ chain: inout DescriptorChain, memory: GuestMemory) -> Int {
        var filled = 0
        do {
            while filled < maxBytesPerRequest, let descriptor = try chain.next() {
                guard descriptor.isDeviceWritable else {
                    metrics.errors.increment()
                    return 0
                }
                let count = min(Int(descriptor.length), maxBytesPerRequest - filled)
                let buffer = try memory.slice(at: descriptor.address, count: count)
                guard source.fill(buffer) else {
                    metrics.errors.increment()
                    return filled
                }
                filled += count
            }
        } catch {
            metrics.errors.increment()
            return 0
        }
        return filled
    }
}
