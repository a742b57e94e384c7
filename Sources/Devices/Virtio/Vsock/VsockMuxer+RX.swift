import GuestMemory
#if canImport(Glibc)
import Glibc
#endif

/// Packets to the guest (the RX queue): queued RSTs first, then connections round-robin, one
/// read each per turn. Data is read from the host socket straight into guest buffers: one
/// readv fills as many RX buffers as the guest's credit allows (see `VsockRxBatch`).
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
            guard let payload = try fillRxBuffer(&queue, memory: memory) else {
                heldRxHead = head
                if !resets.isEmpty { continue }  // a connection failed and owes a RST
                return
            }
            counters.packetsToGuest += 1
            counters.bytesToGuest += UInt64(payload)
            try queue.addUsed(head: head, length: UInt32(VsockHeader.size + payload), memory: memory)
            try rxBatch.publish(&queue, memory: memory, counters: &counters)
        }
        guestWorkAdded = false
    }

    /// Writes the next packet into the gathered RX buffers; its payload length, or nil when no
    /// connection had anything after all (its socket was empty).
    private func fillRxBuffer(_ queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) -> Int? {
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
            let payload = try packet(for: connection, &queue, memory: memory)
            if connection.hasWorkForGuest { schedule(connection) }
            if let payload { return payload }
            if !resets.isEmpty { return nil }
        }
        return nil
    }

    private func packet(for connection: VsockConnection, _ queue: inout SplitQueue,
                        memory: GuestMemory) throws(QueueError) -> Int? {
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
        if connection.canSendData, let payload = try readHost(connection, &queue, memory: memory) { return payload }
        if connection.isOpen, connection.owed.contains(.creditUpdate) {
            return put(.creditUpdate, connection)
        }
        return nil
    }

    /// RW packets read from the host socket, at most the guest's credit: the first into the
    /// gathered RX buffers (its payload length is returned), the rest into chains taken by
    /// `rxBatch`, which `processRX` publishes after the first.
    private func readHost(_ connection: VsockConnection, _ queue: inout SplitQueue,
                          memory: GuestMemory) throws(QueueError) -> Int? {
        let credit = Int(connection.peerCredit)
        let firstRoom = min(credit, rxBuffers.totalLength - VsockHeader.size, maxPayload)
        guard firstRoom > 0 else { return nil }
        rxBatch.start(with: rxBuffers.iovecs(from: VsockHeader.size, length: firstRoom))
        var room = firstRoom
        if firstRoom < credit {
            room += try rxBatch.take(&queue, memory: memory, budget: credit - firstRoom, maxPayload: maxPayload)
        }
        let result = VsockHostSockets.read(connection.fd, rxBatch.payloadVectors)
        counters.hostReads += 1
        if result > 0 {
            // A stream socket returns less than asked only when it is empty; the next bytes
            // bring a new edge. After the host's EOF no edge comes: read on to find the 0.
            if result < room && !connection.hostPeerClosed { connection.hostReadable = false }
            connection.sentCount &+= UInt32(result)
            let first = min(result, firstRoom)
            rxBatch.distribute(result - first, &queue, header: { length in
                self.header(.rw, connection, length: length)
            }, scratch: headerScratch)
            return put(.rw, connection, length: first)
        }
        rxBatch.abandon(&queue)
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
        put(header(op, connection, length: length, flags: flags))
        return length
    }

    private func header(_ op: VsockHeader.Op, _ connection: VsockConnection, length: Int,
                        flags: UInt32 = 0) -> VsockHeader {
        connection.advertisedForwardCount = connection.forwardCount
        connection.owed.remove(.creditUpdate)
        return VsockHeader(sourceCID: VsockHeader.hostCID, destinationCID: guestCID,
                           sourcePort: connection.localPort, destinationPort: connection.peerPort,
                           length: UInt32(length), op: op, flags: flags,
                           bufferAllocation: bufferAllocation, forwardCount: connection.forwardCount)
    }

    private func put(_ header: VsockHeader) {
        header.store(to: headerScratch)
        rxBuffers.copy(UnsafeRawBufferPointer(headerScratch), to: 0)
    }
}
