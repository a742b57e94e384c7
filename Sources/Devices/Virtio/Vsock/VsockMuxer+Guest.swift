import GuestMemory
#if canImport(Glibc)
import Glibc
#endif

/// Packets from the guest (the TX queue).
extension VsockMuxer {
    /// Handles every available TX chain; each is returned with used length 0 (the device
    /// writes nothing into TX buffers).
    func processTX(_ queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        applyPendingReset()
        while var chain = try queue.popChain(memory: memory) {
            handlePacket(&chain, memory: memory)
            try queue.addUsed(head: chain.head, length: 0, memory: memory)
        }
    }

    private func handlePacket(_ chain: inout DescriptorChain, memory: GuestMemory) {
        guard txBuffers.gather(&chain, deviceWritable: false, memory: memory),
              txBuffers.totalLength >= VsockHeader.size else {
            counters.rejectedPackets += 1
            return
        }
        txBuffers.copy(from: 0, into: headerScratch)
        let header = VsockHeader(bytes: UnsafeRawBufferPointer(headerScratch))
        counters.packetsFromGuest += 1
        switch VsockPacketCheck.check(header, guestCID: guestCID, payloadBytes: txBuffers.totalLength - VsockHeader.size,
                                      maxPayload: maxPayload) {
        case .drop:
            counters.rejectedPackets += 1
        case .reset:
            counters.rejectedPackets += 1
            if let connection = connections[VsockConnectionKey(localPort: header.destinationPort, peerPort: header.sourcePort)] {
                kill(connection, reset: true)
            } else {
                queueReset(replyingTo: header)
            }
        case let .accept(op):
            handle(op, header)
        }
    }

    private func handle(_ op: VsockHeader.Op, _ header: VsockHeader) {
        let key = VsockConnectionKey(localPort: header.destinationPort, peerPort: header.sourcePort)
        guard let connection = connections[key] else {
            if op == .request { connectToHost(header, key: key) } else { queueReset(replyingTo: header) }
            return
        }
        // Every packet carries the sender's receive buffer state (5.10.6.3).
        connection.peerBufferAllocation = header.bufferAllocation
        connection.peerForwardCount = header.forwardCount
        switch op {
        case .request, .invalid:
            // A second REQUEST for a live port pair: the guest lost track of it.
            kill(connection, reset: true)
        case .response:
            guard connection.state == .awaitingResponse else { return kill(connection, reset: true) }
            establishHostInitiated(connection)
        case .rw:
            guard connection.state == .established, connection.guestShutdown & VsockHeader.shutdownSend == 0 else {
                return kill(connection, reset: true)
            }
            forwardToHost(connection, length: Int(header.length))
        case .shutdown:
            guard connection.state == .established else { return kill(connection, reset: true) }
            connection.guestShutdown |= header.flags
            applyGuestShutdown(connection)
        case .rst:
            kill(connection, reset: false)
        case .creditUpdate:
            break
        case .creditRequest:
            owe(connection, .creditUpdate)
        }
        // New credit may let a stalled host socket be read again.
        if connection.canSendData { schedule(connection) }
    }

    /// A guest REQUEST to host port P: connect to `<uds_path>_P`; RST when nobody listens.
    private func connectToHost(_ header: VsockHeader, key: VsockConnectionKey) {
        guard connections.count < maxConnections else {
            counters.connectionsRefused += 1
            return queueReset(replyingTo: header)
        }
        let fd: Int32
        switch VsockHostSockets.connect(path: basePath, port: header.destinationPort) {
        case let .success(connected): fd = connected
        case .failure:
            counters.connectionsRefused += 1
            return queueReset(replyingTo: header)
        }
        let connection = VsockConnection(fd: fd, state: .established)
        connection.localPort = key.localPort
        connection.peerPort = key.peerPort
        connection.peerBufferAllocation = header.bufferAllocation
        connection.peerForwardCount = header.forwardCount
        guard watch(connection) else {
            VsockHostSockets.close(fd)
            counters.connectionsRefused += 1
            return queueReset(replyingTo: header)
        }
        connections[key] = connection
        counters.connectionsOpened += 1
        owe(connection, .response)
    }

    /// The guest accepted a host client's connection: tell the client its port, join the stream.
    private func establishHostInitiated(_ connection: VsockConnection) {
        connection.state = .established
        let line = Array("OK \(connection.localPort)\n".utf8)
        let written = line.withUnsafeBytes { VsockHostSockets.write(connection.fd, $0) }
        guard written == line.count else { return kill(connection, reset: true) }
        if connection.canSendData { schedule(connection) }
    }

    /// An RW payload: straight to the host socket, the rest into the connection's ring.
    private func forwardToHost(_ connection: VsockConnection, length: Int) {
        guard length <= Int(bufferAllocation) - connection.bufferedCount else {
            counters.creditViolations += 1
            return kill(connection, reset: true)
        }
        connection.receivedCount &+= UInt32(length)
        let vectors = txBuffers.iovecs(from: VsockHeader.size, length: length)
        var written = 0
        if connection.bufferedCount == 0 {
            let result = VsockHostSockets.write(connection.fd, vectors)
            if result < 0 && result != -Int(EAGAIN) { return kill(connection, reset: true) }
            written = max(result, 0)
        }
        if written < length {
            let pending = connection.pendingBytes ?? VsockPendingBytes(capacity: Int(bufferAllocation))
            connection.pendingBytes = pending
            pending.append(vectors, skipping: written)
            watchWritable(connection, true)
        }
        delivered(written, on: connection)
    }

    /// `count` guest bytes reached the host socket: that is credit the guest gets back.
    func delivered(_ count: Int, on connection: VsockConnection) {
        connection.forwardCount &+= UInt32(count)
        counters.bytesToHost += UInt64(count)
        // Tell the guest before it can run dry (a sender with no credit just waits for us).
        if connection.forwardCount &- connection.advertisedForwardCount >= bufferAllocation / 2 {
            owe(connection, .creditUpdate)
        }
    }

    /// SEND: once the ring is flushed, the host reads EOF. Both: the guest closed; finish.
    func applyGuestShutdown(_ connection: VsockConnection) {
        if connection.guestShutdown & VsockHeader.shutdownSend != 0, connection.bufferedCount == 0,
           !connection.hostWriteShut, connection.fd >= 0 {
            VsockHostSockets.shutdownWrite(connection.fd)
            connection.hostWriteShut = true
        }
        finishIfDone(connection)
    }

    /// Ends a connection whose streams are both over, with the RST the guest waits for.
    func finishIfDone(_ connection: VsockConnection) {
        guard connection.isOpen, connection.state == .established else { return }
        let guestDone = connection.guestShutdown & VsockHeader.shutdownSend != 0 && connection.bufferedCount == 0
        let guestClosed = connection.guestShutdown == VsockHeader.shutdownBoth && connection.bufferedCount == 0
        if guestClosed || (connection.hostEOF && guestDone) {
            return kill(connection, reset: true)
        }
        if connection.hostEOF && connection.hostHungUp {
            // The host client is gone: nothing more can reach it. The SHUTDOWN owed says so;
            // the guest answers with RST.
            closeHostSocket(connection)
            connection.pendingBytes = nil
            connection.state = .closing
        }
    }
}
