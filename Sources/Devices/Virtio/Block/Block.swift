import GuestMemory
import Synchronization

/// virtio-blk (device ID 2, virtio 1.x 5.2) backed by a `BlockBackend`, one request queue.
///
/// Offers SIZE_MAX and SEG_MAX (so each request is bounded), FLUSH, and RO for a read-only
/// backend. Config space: capacity (le64, sectors), size_max (le32), seg_max (le32).
///
/// Per chain: the descriptors are copied into a buffer preallocated for the largest queue, so
/// a request is validated as a whole before any I/O and nothing is allocated. Its data goes
/// to the host in one call: a preadv/pwritev on the thread that processes the queue (the
/// `sync` engine), or an io_uring submission (`async`, see `AsyncBlockEngine`) that
/// completes later, in any order, through an eventfd the drive's loop watches (the async
/// engine runs writes the backend cannot start without blocking as the sync one does).
/// Answers: a malformed chain (a descriptor outside RAM, a loop, no writable status byte) is
/// returned with used length 0; everything else gets a status byte, and used length = bytes
/// written into guest buffers + 1.
///
/// A `RateLimiter` gates requests (one op and the data bytes of a read or write each); a
/// refused request stays in the ring until the limiter's timer fires on the drive's loop.
/// The backing file can be replaced while the guest runs (`replaceBackend`).
public final class Block: EventDrivenDevice {
    public static let defaultQueueSize: UInt16 = 256
    public static let defaultSizeMax: UInt32 = 1 << 20
    public static let requestQueue = 0

    // Feature bits (5.2.3).
    public static let featureSizeMax: UInt64 = 1 << 1
    public static let featureSegmentMax: UInt64 = 1 << 2
    public static let featureReadOnly: UInt64 = 1 << 5
    public static let featureFlush: UInt64 = 1 << 9

    /// capacity (le64) is read live; size_max and seg_max (le32 each) follow it.
    static let configLength = 16

    public let deviceType = VirtioDeviceType.block
    public let features: UInt64
    public let queueMaxSizes: [UInt16]
    public var configSize: Int { Self.configLength }
    public let isReadOnly: Bool
    /// Gates requests; unlimited unless configured (or updated by the VMM later).
    public let rateLimiter: RateLimiter
    /// The engine in use: `async` only if it was asked for and the kernel let us set up a ring.
    public let ioEngine: BlockIOEngine
    /// Why an `async` drive runs `sync` (io_uring missing or forbidden), for the VMM's log.
    public let ioEngineFallback: String?
    /// The ring's completion eventfd (nil for a sync drive), watched from `connect(events:)`;
    /// readable while completions wait to be published.
    public let completionFD: Int32?

    /// The disk and the chain buffer, under one lock: `processQueue` holds it for a whole
    /// pass over the ring and `replaceBackend` takes it, so a backend changes between requests.
    let work: Mutex<BlockWork>
    /// The disk's capacity for config space, which the transport reads under its register
    /// lock, not ours; stored with the disk under `work`.
    let liveCapacity: Atomic<UInt64>
    /// size_max and seg_max, little-endian: config bytes 8..<16.
    private let configTail: [UInt8]
    private let metrics = BlockMetrics()

    /// - Parameters:
    ///   - serial: answered to GET_ID (`/sys/block/vdX/serial`); truncated to 20 bytes.
    ///   - sizeMax: the largest single data buffer accepted, advertised as size_max.
    ///   - rateLimiter: nil makes an unlimited one, so that the VMM can limit any drive later.
    ///   - engine: `async` falls back to `sync` (see `ioEngineFallback`) if io_uring cannot be set
    ///     up; it must be asked for here, before seccomp filters, which forbid io_uring_setup.
    public init(backend: any BlockBackend, serial: String, queueSize: UInt16 = defaultQueueSize,
                sizeMax: UInt32 = defaultSizeMax, rateLimiter: RateLimiter? = nil, engine: BlockIOEngine = .sync) {
        precondition(queueSize >= 4 && sizeMax >= 512, "virtio-blk needs a queue of 4+ and size_max of 512+")
        // Header and status take two descriptors of a chain no longer than the queue.
        let segmentMax = UInt32(queueSize) - 2
        var serialBytes = Array(serial.utf8.prefix(BlockRequest.idLength))
        serialBytes += repeatElement(0, count: BlockRequest.idLength - serialBytes.count)
        let disk = BlockDisk(backend: backend, capacity: backend.size / BlockRequest.sectorSize,
                             isReadOnly: backend.isReadOnly, segmentMax: segmentMax, sizeMax: sizeMax,
                             serial: serialBytes)
        isReadOnly = backend.isReadOnly
        features = Self.featureSizeMax | Self.featureSegmentMax | Self.featureFlush
            | (backend.isReadOnly ? Self.featureReadOnly : 0)
        queueMaxSizes = [queueSize]
        var configTail: [UInt8] = []
        withUnsafeBytes(of: sizeMax.littleEndian) { configTail += $0 }
        withUnsafeBytes(of: segmentMax.littleEndian) { configTail += $0 }
        self.configTail = configTail
        liveCapacity = Atomic(disk.capacity)
        var chain: [Descriptor] = []
        chain.reserveCapacity(Int(queueSize))
        var ring: AsyncBlockEngine?
        var fallback: String?
        if engine == .async {
            do throws(BlockIOError) {
                ring = try AsyncBlockEngine(queueSize: queueSize)
            } catch {
                fallback = "io_uring unavailable (\(error)): the drive uses the Sync engine"
            }
        }
        ioEngine = ring == nil ? .sync : .async
        ioEngineFallback = fallback
        completionFD = ring?.ring.eventFD
        work = Mutex(BlockWork(disk: disk, chain: chain, vectors: IOVectors(capacity: Int(queueSize)), ring: ring))
        self.rateLimiter = rateLimiter ?? .deviceDefault()
    }

    /// Disk size in 512-byte sectors, as the guest sees it.
    public var capacity: UInt64 { liveCapacity.load(ordering: .acquiring) }
    public var counters: BlockCounters {
        var counters = metrics.snapshot
        counters.rateLimiterThrottledEvents = rateLimiter.throttledEvents
        return counters
    }

    public func readConfig(offset: Int, into data: UnsafeMutableRawBufferPointer) {
        let capacity = capacity
        for index in data.indices {
            let position = offset + index
            data[index] = position < 8 ? UInt8(truncatingIfNeeded: capacity >> (8 * UInt64(position)))
                                       : configTail[position - 8]
        }
    }

    /// Watches the rate limiter's timer: when a limited queue may go on, it is serviced again;
    /// and the ring's completions, which are published by a pass over the queue.
    public func connect(events: any DeviceEvents) throws(DeviceEventsError) {
        try rateLimiter.serviceOnTimer(Self.requestQueue, through: events)
        guard let completionFD else { return }
        let engine = work.withLock { $0.ring }
        try events.watch(completionFD, for: .readable) { [weak events] _ in
            guard let engine else { return }
            engine.ring.clearEvent()
            // Completions the kernel posted during a submit were published by that pass (the
            // eventfd fired all the same): no second pass over the queue for nothing.
            if engine.mayHaveCompletions { events?.serviceQueue(Self.requestQueue) }
        }
    }

    /// Publishes finished requests, then runs new ones until the ring is empty, the rate
    /// limiter refuses one (it stays in the ring, undone, for the limiter's timer to bring us
    /// back) or, async, every slot is in flight (a completion brings us back).
    public func processQueue(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        try work.withLock { (work: inout BlockWork) throws(QueueError) in
            // Completions are published whatever the backend; only one with a file submits.
            let ring = work.ring
            if let ring { try publishCompletions(ring, queue: &queue, memory: memory) }
            let engine = work.disk.backend.fileDescriptor == nil ? nil : ring
            while engine?.hasFreeSlot ?? true, var chain = try queue.popChain(memory: memory) {
                guard rateLimiter.admit() else {
                    queue.undoPop()
                    break
                }
                let (used, cost) = handle(&chain, work: &work, engine: engine, memory: memory)
                if let used { try queue.addUsed(head: chain.head, length: used, memory: memory) }
                rateLimiter.charge(bytes: cost)
            }
            guard let ring else { return }
            ring.flushSubmissions()
            // Reads from the page cache complete during the submit: publish them in this pass.
            try publishCompletions(ring, queue: &queue, memory: memory)
        }
    }

    func publishCompletions(_ engine: AsyncBlockEngine, queue: inout SplitQueue,
                                    memory: GuestMemory) throws(QueueError) {
        while let (request, result) = engine.nextCompletion() {
            let (status, written, moved) = request.outcome(result)
            switch request.kind {
            case .read: metrics.bytesRead.increment(by: moved)
            case .write: metrics.bytesWritten.increment(by: moved)
            case .flush: break
            }
            let used = complete(status: request.status, with: status, written: written, memory: memory)
            try queue.addUsed(head: request.head, length: used, memory: memory)
        }
    }

    /// Executes one chain, or submits it to `engine`; returns its used length (nil: submitted,
    /// answered when it completes) and the data bytes it costs the limiter.
    private func handle(_ chain: inout DescriptorChain, work: inout BlockWork, engine: AsyncBlockEngine?,
                        memory: GuestMemory) -> (used: UInt32?, cost: UInt64) {
        metrics.requests.increment()
        // Capacity was reserved for the largest queue and a chain never exceeds the queue
        // size, so these appends never allocate.
        work.chain.removeAll(keepingCapacity: true)
        do {
            while let descriptor = try chain.next() { work.chain.append(descriptor) }
        } catch {
            metrics.malformedChains.increment()
            return (0, 0)
        }
        switch BlockRequest.parse(work.chain, memory: memory) {
        case .malformed:
            metrics.malformedChains.increment()
            return (0, 0)
        case let .badHeader(status):
            return (complete(status: status, with: .ioError, written: 0, memory: memory), 0)
        case let .request(request):
            if let engine, let fd = work.disk.backend.fileDescriptor {
                switch request.submit(to: engine, fd: fd, chain: work.chain, head: chain.head, disk: work.disk,
                                      memory: memory, metrics: metrics) {
                case .inFlight: return (nil, request.dataBytes(in: work.chain))
                case let .answered(status, written):
                    return (complete(status: request.status, with: status, written: written, memory: memory),
                            request.dataBytes(in: work.chain))
                case .notSubmitted: break
                }
            }
            let (status, written) = request.execute(in: work.chain, memory: memory, disk: work.disk,
                                                           vectors: &work.vectors, metrics: metrics)
            return (complete(status: request.status, with: status, written: written, memory: memory),
                    request.dataBytes(in: work.chain))
        }
    }

    private func complete(status descriptor: Descriptor, with status: BlockStatus, written: UInt64,
                          memory: GuestMemory) -> UInt32 {
        complete(status: descriptor.address, with: status, written: written, memory: memory)
    }

    private func complete(status address: GuestAddress, with status: BlockStatus, written: UInt64,
                          memory: GuestMemory) -> UInt32 {
        switch status {
        case .ok: break
        case .ioError: metrics.ioErrors.increment()
        case .unsupported: metrics.unsupported.increment()
        }
        do {
            try memory.write(status.rawValue, at: address)
        } catch {
            metrics.malformedChains.increment()
            return 0
        }
        return UInt32(clamping: written + 1)
    }
}
