import GuestMemory
#if canImport(Glibc)
import Glibc
#endif

/// A connection's identity on the wire: host-side port and guest-side port.
struct VsockConnectionKey: Hashable {
    var localPort: UInt32
    var peerPort: UInt32
}

/// The connection table of a vsock device and everything it owes the guest: connections by
/// port pair, host clients still sending their CONNECT line, the round-robin RX schedule, and
/// queued RST replies. Not thread-safe: `Vsock` calls it under its lock, on the device thread.
///
/// Flow control, so that nothing is buffered without bound whatever the peers do:
/// - host -> guest: a host socket is read only into a guest RX buffer and only up to the
///   guest's credit; with no credit or no RX buffer, the bytes stay in the host socket.
/// - guest -> host: guest bytes go straight to the host socket; what it does not take goes to
///   the connection's ring of `bufferAllocation` bytes, which is exactly the credit granted,
///   so a guest that sends more is violating the protocol and gets a RST.
final class VsockMuxer {
    let guestCID: UInt64
    let basePath: [UInt8]
    let listener: Int32
    let bufferAllocation: UInt32
    let maxPayload: Int
    let maxConnections: Int
    /// accept4 on the listener (fd or -errno); tests replace it to run out of descriptors
    /// without lowering RLIMIT_NOFILE under the other tests of the process.
    let accept: (Int32) -> Int32
    /// Lets a listener paused by `pauseListener` try again when no connection closes.
    let acceptRetry: RateLimitTimer
    var listenerPaused = false
    /// First port given to host clients; ports above it are less likely to meet guest ports.
    static let firstHostPort: UInt32 = 1 << 30
    /// RST replies to stray packets wait for an RX buffer only while fewer than this are queued.
    static let strayResetLimit = 256

    var events: (any DeviceEvents)?
    /// Builds the handler the event loop calls for one connection's socket.
    var handlerFactory: ((VsockConnection) -> (DeviceEventMask) -> Void)?

    var connections: [VsockConnectionKey: VsockConnection] = [:]
    var handshaking: [Int32: VsockConnection] = [:]
    var hostPortsInUse = Set<UInt32>()
    var nextHostPort = firstHostPort
    var schedule: VsockFixedQueue<VsockConnection>
    var resets: VsockFixedQueue<VsockHeader>
    /// Set when something new was scheduled for the guest; the device then services RX.
    var guestWorkAdded = false
    var transportResetPending = false
    /// A driver reset whose connections the device thread has not closed yet.
    var resetRequested = false
    var counters = VsockCounters()

    let txBuffers: VsockChainBuffers
    let rxBuffers: VsockChainBuffers
    let eventBuffers: VsockChainBuffers
    /// RX chains after `rxBuffers`' that the same host read fills.
    let rxBatch: VsockRxBatch
    /// An RX chain taken from the ring but not filled (its socket turned out empty): used for
    /// the next packet rather than returned empty.
    var heldRxHead: UInt16?
    let headerScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: VsockHeader.size, alignment: 8)
    let flushVectors = UnsafeMutableBufferPointer<iovec>.allocate(capacity: 2)

    init(guestCID: UInt64, basePath: [UInt8], listener: Int32, bufferAllocation: UInt32, maxPayload: Int,
         maxConnections: Int, queueSize: Int, accept: @escaping (Int32) -> Int32,
         acceptRetry: consuming RateLimitTimer) {
        self.guestCID = guestCID
        self.accept = accept
        self.acceptRetry = acceptRetry
        self.basePath = basePath
        self.listener = listener
        self.bufferAllocation = bufferAllocation
        self.maxPayload = maxPayload
        self.maxConnections = maxConnections
        schedule = VsockFixedQueue(capacity: 2 * maxConnections)
        resets = VsockFixedQueue(capacity: maxConnections + Self.strayResetLimit)
        txBuffers = VsockChainBuffers(capacity: queueSize)
        rxBuffers = VsockChainBuffers(capacity: queueSize)
        eventBuffers = VsockChainBuffers(capacity: queueSize)
        rxBatch = VsockRxBatch(firstChainCapacity: queueSize)
        connections.reserveCapacity(maxConnections)
        handshaking.reserveCapacity(maxConnections)
        hostPortsInUse.reserveCapacity(maxConnections)
    }

    deinit {
        closeAll()
        headerScratch.deallocate()
        flushVectors.deallocate()
    }

    var openConnectionCount: Int { resetRequested ? 0 : connections.count + handshaking.count }

    // MARK: - Scheduling packets for the guest

    var hasGuestWork: Bool { !resets.isEmpty || !schedule.isEmpty }

    func schedule(_ connection: VsockConnection) {
        guard connection.isOpen, !connection.isScheduled else { return }
        if !schedule.push(connection) {
            // Only closed connections can fill it (each open one is in it at most once).
            schedule.removeAll { !$0.isOpen }
            schedule.push(connection)
        }
        connection.isScheduled = true
        guestWorkAdded = true
    }

    func owe(_ connection: VsockConnection, _ packet: VsockConnection.Owed) {
        connection.owed.insert(packet)
        schedule(connection)
    }

    /// Queues a RST for the port pair of `header` as the guest sent it (source and destination
    /// swapped). A RST is never answered with a RST.
    func queueReset(replyingTo header: VsockHeader) {
        guard header.op != VsockHeader.Op.rst.rawValue else { return }
        guard resets.count < Self.strayResetLimit else {
            counters.resetsDropped += 1
            return
        }
        queueReset(localPort: header.destinationPort, peerPort: header.sourcePort, type: header.type)
    }

    func queueReset(localPort: UInt32, peerPort: UInt32, type: UInt16 = VsockHeader.typeStream) {
        let reset = VsockHeader(sourceCID: VsockHeader.hostCID, destinationCID: guestCID, sourcePort: localPort,
                                destinationPort: peerPort, type: type, op: .rst)
        if resets.push(reset) { guestWorkAdded = true } else { counters.resetsDropped += 1 }
    }

    // MARK: - Closing

    /// Ends `connection`: closes its host socket, forgets it, and tells the guest with a RST
    /// when `reset` (not when the guest sent the RST, or never heard of the connection).
    func kill(_ connection: VsockConnection, reset: Bool) {
        guard connection.isOpen else { return }
        connection.isOpen = false
        if connection.state == .awaitingConnectLine {
            handshaking[connection.fd] = nil
        } else {
            connections[VsockConnectionKey(localPort: connection.localPort, peerPort: connection.peerPort)] = nil
            if connection.hostInitiated { hostPortsInUse.remove(connection.localPort) }
            if reset { queueReset(localPort: connection.localPort, peerPort: connection.peerPort) }
        }
        closeHostSocket(connection)
        connection.pendingBytes = nil
        counters.connectionsClosed += 1
    }

    func closeHostSocket(_ connection: VsockConnection) {
        guard connection.fd >= 0 else { return }
        events?.unwatch(connection.fd)
        VsockHostSockets.close(connection.fd)
        connection.fd = -1
        // A descriptor is free: a client the listener could not take may fit now.
        resumeListener()
    }

    /// Every connection closed without telling the guest (device reset, transport reset,
    /// teardown); host clients see their socket closed.
    func closeAll() {
        for connection in Array(connections.values) + Array(handshaking.values) {
            kill(connection, reset: false)
        }
        schedule.removeAll()
        resets.removeAll()
        guestWorkAdded = false
    }

    /// Driver reset: the rings are gone, and with them every connection. This runs on the
    /// vCPU thread that wrote the status register, whose seccomp filter allows no close or
    /// epoll_ctl: so only the ring state is dropped here, and the connections are closed by
    /// the device thread the next time it enters the muxer (`applyPendingReset`).
    func reset() {
        resetRequested = true
        heldRxHead = nil
        rxBatch.clear()
        transportResetPending = false
        guestWorkAdded = false
    }

    /// The device thread's half of `reset()`; called first by every device-thread entry point.
    func applyPendingReset() {
        guard resetRequested else { return }
        resetRequested = false
        closeAll()
    }

    /// VIRTIO_VSOCK_EVENT_TRANSPORT_RESET: every connection dropped, the guest told on the
    /// event queue (it then drops its sockets and reads guest_cid again).
    func resetTransport() {
        applyPendingReset()
        closeAll()
        transportResetPending = true
    }

    // MARK: - Event queue

    func processEvents(_ queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        applyPendingReset()
        while transportResetPending, var chain = try queue.popChain(memory: memory) {
            // struct virtio_vsock_event { le32 id; }, id 0 = TRANSPORT_RESET.
            guard eventBuffers.gather(&chain, deviceWritable: true, memory: memory), eventBuffers.totalLength >= 4 else {
                try queue.addUsed(head: chain.head, length: 0, memory: memory)
                continue
            }
            withUnsafeBytes(of: UInt32(0).littleEndian) { eventBuffers.copy($0, to: 0) }
            try queue.addUsed(head: chain.head, length: 4, memory: memory)
            transportResetPending = false
        }
    }
}
