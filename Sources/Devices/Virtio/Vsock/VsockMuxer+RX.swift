import GuestMemory
#if canImport(Glibc)
import Glibc
#endif

/// Packets to the guest (the RX queue): queued RSTs first, then connections round-robin, one
/// packet each per turn. Data is read from the host socket straight into the guest buffer.
extension VsockMuxer {
    func processRX(_ queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        applyPendingReset()
        guestWorkAdded = false
        while hasGuestWork {
            let head: UInt16
            if let held = heldRxHead {
                head = held
            } else {
                guard var chain = try queue.popChain(memory: memory) else { return }
                guard rxBuffers.gather(&chain, deviceWritable: true, memory: memory),
                      rxBuffers.totalLength >= VsockHeader.size else {
                    counters.rejectedRxBuffers += 1
                    try queue.addUsed(head: chain.head, length: 0, memory: memory)
                    continue
                }
                head = chain.head
            }
            heldRxHead = nil
            guard let payload = fillRxBuffer() else {
                heldRxHead = head
                if !resets.isEmpty { continue }  // a connection failed and owes a RST
                return
            }
            counters.packetsToGuest += 1
            counters.bytesToGuest += UInt64(payload)
            try queue.addUsed(head: head, length: UInt32(VsockHeader.size + payload), memory: memory)
        }
        guestWorkAdded = false
    }

    /// Writes the next packet into the gathered RX buffers; its payload length, or nil when no
    /// connection had anything after all (its socket was empty).
    private func fillRxBuffer() -> Int? {
        if let reset = resets.pop() {
            put(reset)
            counters.resetsSent += 1
            return 0
        }
        // One turn per scheduled connection: one that cannot use this buffer (no payload
        // room) goes back to the end and waits for the next.
        var turns = schedule.count
        while turns > 0, let connection = schedule.pop() {
            turns -= 1
            connection.isScheduled = false
            guard connection.isOpen else { continue }
            let payload = packet(for: connection)
            if connection.hasWorkForGuest { schedule(connection) }
            if let payload { return payload }
            if !resets.isEmpty { return nil }
        }
        return nil
    }

    private func packet(for connection: VsockConnection) -> Int? {
        if connection.owed.contains(.request) {
            connection.owed.remove(.request)
            return put(.request, connection)
        }
        if connection.owed.contains(.response) {
            connection.owed.remove(.response)
            return put(.response, connection)
        }
        if connection.owed.contains(.shutdown) {
            connection.owed.remove(.shutdown)
            return put(.shutdown, connection, flags: connection.shutdownTold)
        }
        if connection.canSendData, let payload = readHost(connection) { return payload }
        if connection.isOpen, connection.owed.contains(.creditUpdate) {
            return put(.creditUpdate, connection)
        }
        return nil
    }

    /// One RW packet read from the host socket, at most the guest's credit.
    private func readHost(_ connection: VsockConnection) -> Int? {
        let room = min(Int(connection.peerCredit), rxBuffers.totalLength - VsockHeader.size, maxPayload)
        guard room > 0 else { return nil }
        let result = VsockHostSockets.read(connection.fd, rxBuffers.iovecs(from: VsockHeader.size, length: room))
        if result > 0 {
            // A stream socket returns less than asked only when it is empty; the next bytes
            // bring a new edge. After the host's EOF no edge comes: read on to find the 0.
            if result < room && !connection.hostPeerClosed { connection.hostReadable = false }
            connection.sentCount &+= UInt32(result)
            return put(.rw, connection, length: result)
        }
        if result == 0 {
            hostFinishedSending(connection)
            guard connection.isOpen, connection.owed.contains(.shutdown) else { return nil }
            connection.owed.remove(.shutdown)
            return put(.shutdown, connection, flags: connection.shutdownTold)
        }
        if result == -Int(EAGAIN) {
            connection.hostReadable = false
            return nil
        }
        kill(connection, reset: true)
        return nil
    }

    /// Writes a header for `connection`; every packet carries our credit, so no separate
    /// CREDIT_UPDATE is owed after it.
    private func put(_ op: VsockHeader.Op, _ connection: VsockConnection, length: Int = 0, flags: UInt32 = 0) -> Int {
        let header = VsockHeader(sourceCID: VsockHeader.hostCID, destinationCID: guestCID,
                                 sourcePort: connection.localPort, destinationPort: connection.peerPort,
                                 length: UInt32(length), op: op, flags: flags,
                                 bufferAllocation: bufferAllocation, forwardCount: connection.forwardCount)
        connection.advertisedForwardCount = connection.forwardCount
        connection.owed.remove(.creditUpdate)
        put(header)
        return length
    }

    private func put(_ header: VsockHeader) {
        header.store(to: headerScratch)
        rxBuffers.copy(UnsafeRawBufferPointer(headerScratch), to: 0)
    }
}
