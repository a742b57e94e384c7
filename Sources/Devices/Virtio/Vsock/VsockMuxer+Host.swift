#if canImport(Glibc)
import Glibc
#endif

extension DeviceEventMask {
    /// EPOLLET: a socket is reported when it becomes ready, not while it stays ready, so a
    /// socket the device cannot serve yet (no guest credit, no RX buffer) costs nothing.
    static let edgeTriggered = DeviceEventMask(rawValue: 0x8000_0000)
}

/// Host sockets: the `uds_path` listener, host clients' CONNECT lines, readiness of joined streams.
extension VsockMuxer {
    /// Writability is watched only while guest bytes wait for the host socket: otherwise every
    /// read by the host peer would wake the device thread for nothing (one wake-up per packet
    /// when streaming guest -> host).
    static let connectionEvents: DeviceEventMask = [.readable, .peerClosed, .edgeTriggered]
    static let connectionEventsWhileBlocked: DeviceEventMask = connectionEvents.union(.writable)
    static let maxConnectLine = 32

    func watch(_ connection: VsockConnection) -> Bool {
        guard let events, let handlerFactory else { return false }
        do {
            try events.watch(connection.fd, for: Self.connectionEvents, handler: handlerFactory(connection))
            return true
        } catch {
            return false
        }
    }

    /// Readiness of one host socket.
    func hostEvent(_ connection: VsockConnection, _ mask: DeviceEventMask) {
        applyPendingReset()
        guard connection.isOpen, connection.fd >= 0 else { return }
        if connection.state == .awaitingConnectLine { return readConnectLine(connection) }
        if mask.contains(.error) { return kill(connection, reset: true) }
        if mask.contains(.writable) { flushToHost(connection) }
        guard connection.isOpen else { return }
        if mask.contains(.hangUp) {
            connection.hostHungUp = true
            // Already at EOF: the guest may now also stop sending.
            if connection.hostEOF { return hostFinishedSending(connection) }
        }
        if !mask.isDisjoint(with: [.hangUp, .peerClosed]) { connection.hostPeerClosed = true }
        if !mask.isDisjoint(with: [.readable, .hangUp, .peerClosed]) {
            connection.hostReadable = true
            if connection.canSendData { schedule(connection) }
        }
    }

    /// Read returned 0 (or a hang-up followed EOF): SHUTDOWN SEND, and RCV when the host
    /// socket is closed altogether.
    func hostFinishedSending(_ connection: VsockConnection) {
        connection.hostEOF = true
        connection.hostReadable = false
        let flags = VsockHeader.shutdownSend | (connection.hostHungUp ? VsockHeader.shutdownReceive : 0)
        if connection.shutdownTold | flags != connection.shutdownTold {
            connection.shutdownTold |= flags
            owe(connection, .shutdown)
        }
        finishIfDone(connection)
    }

    /// Writes the connection's ring to the host socket as far as it goes.
    func flushToHost(_ connection: VsockConnection) {
        guard let pending = connection.pendingBytes, !pending.isEmpty else { return watchWritable(connection, false) }
        while !pending.isEmpty {
            let count = pending.vectors(flushVectors)
            let result = VsockHostSockets.write(connection.fd, UnsafeMutableBufferPointer(rebasing: flushVectors[0..<count]))
            if result == -Int(EAGAIN) { return }
            guard result > 0 else { return kill(connection, reset: true) }
            pending.consume(result)
            delivered(result, on: connection)
        }
        watchWritable(connection, false)
        applyGuestShutdown(connection)
    }

    /// Starts or stops watching for room in the host socket. Adding EPOLLOUT makes epoll look at
    /// the socket again, so room made before the change is still reported.
    func watchWritable(_ connection: VsockConnection, _ watch: Bool) {
        guard connection.writableWatched != watch, connection.fd >= 0 else { return }
        connection.writableWatched = watch
        events?.rewatch(connection.fd, for: watch ? Self.connectionEventsWhileBlocked : Self.connectionEvents)
    }

    /// Reads the client's line one byte at a time (so no stream byte after it is taken), then
    /// asks the guest with a REQUEST. A malformed line, or a client that leaves, is closed.
    func readConnectLine(_ connection: VsockConnection) {
        var byte: UInt8 = 0
        while true {
            let result = withUnsafeMutableBytes(of: &byte) { VsockHostSockets.read(connection.fd, into: $0) }
            if result == -Int(EAGAIN) { return }
            guard result == 1 else { return kill(connection, reset: false) }
            if byte == UInt8(ascii: "\n") { break }
            guard connection.connectLine.count < Self.maxConnectLine else { return kill(connection, reset: false) }
            connection.connectLine.append(byte)
        }
        guard let port = Self.parseConnect(connection.connectLine), connections.count < maxConnections,
              let localPort = allocateHostPort(),
              connections[VsockConnectionKey(localPort: localPort, peerPort: port)] == nil else {
            return kill(connection, reset: false)
        }
        handshaking[connection.fd] = nil
        connection.connectLine = []
        connection.localPort = localPort
        connection.peerPort = port
        connection.hostInitiated = true
        connection.state = .awaitingResponse
        // Bytes the client sent early are read once the guest accepts.
        connection.hostReadable = true
        hostPortsInUse.insert(localPort)
        connections[VsockConnectionKey(localPort: localPort, peerPort: port)] = connection
        counters.connectionsOpened += 1
        owe(connection, .request)
    }

    /// `CONNECT <port>` with a decimal port that fits 32 bits; nil otherwise.
    static func parseConnect(_ line: [UInt8]) -> UInt32? {
        let prefix = Array("CONNECT ".utf8)
        guard line.count > prefix.count, line.count <= prefix.count + 10, line.starts(with: prefix) else { return nil }
        var value: UInt64 = 0
        for byte in line[prefix.count...] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        return UInt32(exactly: value)
    }

    /// The next free port from 2^30 up (wrapping back to 2^30), as Firecracker assigns them.
    func allocateHostPort() -> UInt32? {
        for _ in 0..<(maxConnections + 1) {
            let candidate = nextHostPort
            nextHostPort = nextHostPort == .max ? Self.firstHostPort : nextHostPort + 1
            if !hostPortsInUse.contains(candidate) { return candidate }
        }
        return nil
    }
}
