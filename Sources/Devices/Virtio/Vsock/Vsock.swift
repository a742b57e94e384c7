import GuestMemory
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// virtio-vsock (device ID 19, virtio 1.x 5.10) in Firecracker's hybrid model: the guest
/// talks vsock streams, the host talks Unix stream sockets.
///
/// - Host to guest: a client connects to `udsPath`, writes `CONNECT <port>\n`, and reads
///   `OK <host port>\n` once the guest listener on `<port>` accepted (the socket is closed if
///   it refused); then the two streams are joined.
/// - Guest to host: a guest connection to host (CID 2) port P is a connection to the Unix
///   socket `<udsPath>_P`; RST when nobody listens there.
///
/// Queues: RX (0), TX (1), event (2). Config space: guest_cid (le64). Only STREAM sockets.
/// All host sockets are non-blocking and serviced from the device thread's event loop
/// (`connect(events:)`); when a host socket has data, the device has the RX queue processed.
///
/// Locking: the connection table is guarded by `lock`. Queue processing runs with the
/// transport's queue lock held and then takes `lock`; `events.serviceQueue(rx)` is only called
/// after `lock` is released, so the only nesting is TX queue -> RX queue, never the reverse.
public final class Vsock: EventDrivenDevice, @unchecked Sendable {
    public static let rxQueue = 0
    public static let txQueue = 1
    public static let eventQueue = 2
    public static let defaultQueueSize: UInt16 = 256
    /// The largest RW payload accepted from the guest (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE)
    /// and sent to it.
    public static let maxPayload = 64 * 1024
    /// Per-connection receive buffer advertised to the guest (buf_alloc): at most this many
    /// guest bytes wait in the VMM for a slow host reader.
    public static let defaultBufferAllocation: UInt32 = 256 * 1024
    public static let defaultMaxConnections = 1024

    public let deviceType = VirtioDeviceType.vsock
    public let features: UInt64 = 0
    public let queueMaxSizes: [UInt16]
    public let configSize = 8
    public let guestCID: UInt64
    public let udsPath: String

    let lock = Mutex(())
    let muxer: VsockMuxer
    /// Set once by `connect(events:)` before the guest runs; read-only afterwards.
    private(set) var events: (any DeviceEvents)?
    private var listenerOpen = true

    /// Creates the listening socket at `udsPath` (which must not exist, or be a stale socket).
    public convenience init(guestCID: UInt64, udsPath: String, queueSize: UInt16 = defaultQueueSize,
                            bufferAllocation: UInt32 = defaultBufferAllocation,
                            maxConnections: Int = defaultMaxConnections) throws(VsockSocketError) {
        try self.init(guestCID: guestCID, udsPath: udsPath, queueSize: queueSize, bufferAllocation: bufferAllocation,
                      maxConnections: maxConnections, accept: VsockHostSockets.accept)
    }

    /// `accept`: accept4 on the listener, fd or -errno (a test's stand-in). Also creates the
    /// listener's retry timerfd: here, since the device thread's seccomp filter has no
    /// timerfd_create.
    init(guestCID: UInt64, udsPath: String, queueSize: UInt16 = defaultQueueSize,
         bufferAllocation: UInt32 = defaultBufferAllocation, maxConnections: Int = defaultMaxConnections,
         accept: @escaping (Int32) -> Int32) throws(VsockSocketError) {
        precondition(guestCID >= 3 && guestCID <= UInt64(UInt32.max) - 1, "guest CID must be 3...2^32-2")
        precondition(bufferAllocation >= 4096 && maxConnections > 0)
        let acceptRetry = RateLimitTimer()
        if let failure = acceptRetry.failure { throw VsockSocketError("timerfd_create", errno: failure.errno) }
        let listener = try VsockHostSockets.listen(path: udsPath)
        self.guestCID = guestCID
        self.udsPath = udsPath
        queueMaxSizes = [queueSize, queueSize, queueSize]
        muxer = VsockMuxer(guestCID: guestCID, basePath: Array(udsPath.utf8), listener: listener,
                           bufferAllocation: bufferAllocation, maxPayload: Self.maxPayload,
                           maxConnections: maxConnections, queueSize: Int(queueSize), accept: accept,
                           acceptRetry: acceptRetry)
        muxer.handlerFactory = { [weak self] connection in
            { [weak self] mask in self?.hostEvent(connection, mask) }
        }
    }

    /// Closes every host socket and the listener and removes the `uds_path` socket file, so
    /// the next VMM with this path can bind it. For the VMM's teardown, after the device loop
    /// has stopped (the loop may already be gone: no event-loop calls here, only close and
    /// unlink). Idempotent; the device is unusable afterwards.
    public func closeHostSide() {
        let listener = lock.withLock { _ -> Int32 in
            muxer.events = nil
            muxer.closeAll()
            defer { listenerOpen = false }
            return listenerOpen ? muxer.listener : -1
        }
        guard listener >= 0 else { return }
        VsockHostSockets.close(listener)
        unlink(udsPath)
    }

    deinit { closeHostSide() }

    public var counters: VsockCounters { lock.withLock { _ in muxer.counters } }

    /// Open connections, including host clients that have not sent their CONNECT line yet.
    public var connectionCount: Int { lock.withLock { _ in muxer.openConnectionCount } }

    // MARK: - EventDrivenDevice

    public func connect(events: any DeviceEvents) throws(DeviceEventsError) {
        lock.withLock { _ in muxer.events = events }
        self.events = events
        try events.watch(muxer.listener, for: .readable) { [weak self] _ in self?.acceptClients() }
        try events.watch(muxer.acceptRetry.fd, for: .readable) { [weak self] _ in self?.retryAccept() }
    }

    // MARK: - VirtioDevice

    public func readConfig(offset: Int, into data: UnsafeMutableRawBufferPointer) {
        withUnsafeBytes(of: guestCID.littleEndian) { config in
            data.copyMemory(from: UnsafeRawBufferPointer(rebasing: config[offset..<offset + data.count]))
        }
    }

    /// On the vCPU thread that wrote status 0: no system calls (see `VsockMuxer.reset`).
    public func reset() {
        lock.withLock { _ in muxer.reset() }
    }

    public func processQueue(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        switch index {
        case Self.rxQueue:
            try lock.withLock { _ throws(QueueError) in try muxer.processRX(&queue, memory: memory) }
        case Self.txQueue:
            let guestWork = try lock.withLock { _ throws(QueueError) -> Bool in
                try muxer.processTX(&queue, memory: memory)
                return muxer.guestWorkAdded
            }
            // Replies (RESPONSE, RST, credit updates) go out on the RX queue.
            if guestWork { events?.serviceQueue(Self.rxQueue) }
        case Self.eventQueue:
            try lock.withLock { _ throws(QueueError) in try muxer.processEvents(&queue, memory: memory) }
        default:
            break
        }
    }

    /// Drops every connection and posts VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, after which the
    /// guest closes its sockets and reads guest_cid again (as after a snapshot restore).
    /// Closes sockets: call it on the device thread.
    public func resetTransport() {
        lock.withLock { _ in muxer.resetTransport() }
        events?.serviceQueue(Self.eventQueue)
    }

    // MARK: - Host socket events (device thread)

    private func acceptClients() {
        let guestWork = lock.withLock { _ -> Bool in
            muxer.acceptClients()
            return muxer.guestWorkAdded
        }
        if guestWork { events?.serviceQueue(Self.rxQueue) }
    }

    private func retryAccept() {
        lock.withLock { _ in muxer.acceptRetryFired() }
    }

    private func hostEvent(_ connection: VsockConnection, _ mask: DeviceEventMask) {
        let guestWork = lock.withLock { _ -> Bool in
            muxer.hostEvent(connection, mask)
            return muxer.guestWorkAdded
        }
        if guestWork { events?.serviceQueue(Self.rxQueue) }
    }
}
