import GuestMemory

/// virtio-vsock in a snapshot, as in Firecracker: the guest CID and the RX chain the device
/// holds, and no connections. Host sockets cannot be carried into another process, so after
/// a restore every connection is gone: the device posts VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on
/// the event queue (now, if the guest has an event buffer posted, else at its next one), the
/// guest drops its sockets and reads guest_cid again, and its applications reconnect.
public struct VsockState: Equatable, Sendable {
    public var guestCID: UInt64
    /// An RX chain taken from the ring and not filled (its socket was empty): the device's
    /// to fill with the next packet.
    public var heldRxHead: UInt16?

    public init(guestCID: UInt64, heldRxHead: UInt16?) {
        self.guestCID = guestCID
        self.heldRxHead = heldRxHead
    }
}

extension VsockState: StateCodable {
    public func encode(to writer: inout StateWriter) {
        writer.write(guestCID)
        writer.writeOptional(heldRxHead) { $0.write($1) }
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        let cid = try reader.read(UInt64.self, "vsock guest CID")
        guard cid >= 3, cid <= UInt64(UInt32.max) - 1 else { throw .invalidValue(field: "vsock guest CID", value: cid) }
        self.init(guestCID: cid,
                  heldRxHead: try reader.readOptional("vsock held RX chain") { reader throws(SnapshotStateError) in
                      try reader.read(UInt16.self, "vsock held RX head")
                  })
    }
}

extension Vsock: SnapshotableDevice {
    public func saveState() -> VsockState {
        lock.withLock { _ in VsockState(guestCID: guestCID, heldRxHead: muxer.resetRequested ? nil : muxer.heldRxHead) }
    }

    /// The guest knows itself by its CID (it may have bound to it). A held chain must be a
    /// device-writable chain of the RX queue with room for a header.
    public func validateRestore(_ state: VsockState, context: RestoreContext) throws(SnapshotStateError) {
        guard state.guestCID == guestCID else {
            throw .mismatch(field: "vsock guest CID", saved: state.guestCID, device: guestCID)
        }
        guard let head = state.heldRxHead else { return }
        let queue = context.queues[Self.rxQueue]
        guard context.activated, queue.isReady, queue.nextAvailable != queue.nextUsed else {
            throw .inconsistent("vsock holds an RX chain it has not taken from a running queue")
        }
        // A trial gather into the RX scratch buffers, which hold nothing between passes.
        let held = lock.withLock { _ in muxer.gatherHeldRx(head: head, queue: queue, memory: context.memory) }
        guard held else { throw .invalidValue(field: "vsock held RX chain", value: UInt64(head)) }
    }

    public func applyRestore(_ state: VsockState, context: RestoreContext) {
        lock.withLock { _ in
            if let head = state.heldRxHead,
               muxer.gatherHeldRx(head: head, queue: context.queues[Self.rxQueue], memory: context.memory) {
                muxer.heldRxHead = head
            }
            // Only a running device has an event queue to post the reset on; a driver that
            // starts the device later starts without connections anyway.
            muxer.transportResetPending = context.activated
        }
    }

    /// Posts the transport reset if the guest has an event buffer waiting.
    public func didRestore() {
        let pending = lock.withLock { _ in muxer.transportResetPending }
        if pending { events?.serviceQueue(Self.eventQueue) }
    }
}

extension VsockMuxer {
    /// Gathers the chain at `head` into `rxBuffers` as `processRX` does before filling it.
    func gatherHeldRx(head: UInt16, queue: SplitQueue, memory: GuestMemory) -> Bool {
        guard var chain = queue.heldChain(head: head, memory: memory) else { return false }
        return rxBuffers.gather(&chain, deviceWritable: true, memory: memory) && rxBuffers.totalLength >= VsockHeader.size
    }
}
