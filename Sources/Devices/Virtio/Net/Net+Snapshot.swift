import GuestMemory

/// virtio-net in a snapshot.
///
/// Saved: the MAC (what config space shows), both rate limiters, and the RX chains the device
/// has taken from the ring and not filled yet (`heldReceiveHeads`): they are the device's to
/// return, and the guest will not post them again. A restored device walks them again.
///
/// Not saved, by design: frames waiting in the TAP (host state; like a cable unplugged for a
/// moment, the guest's TCP resends them), whether reading the TAP was paused (a restored
/// device watches its new TAP and pauses again if the guest is short of buffers), the TAP
/// offloads (set again from the negotiated features when the restored device is activated).
/// No frame is ever half-delivered: a frame goes from the TAP to the used ring within one
/// pass over the queue, and a save runs between passes.
public struct NetState: Equatable, Sendable {
    public var mac: MACAddress
    public var receiveRateLimiter: RateLimiterState
    public var transmitRateLimiter: RateLimiterState
    public var heldReceiveHeads: [UInt16]

    public init(mac: MACAddress, receiveRateLimiter: RateLimiterState, transmitRateLimiter: RateLimiterState,
                heldReceiveHeads: [UInt16]) {
        self.mac = mac
        self.receiveRateLimiter = receiveRateLimiter
        self.transmitRateLimiter = transmitRateLimiter
        self.heldReceiveHeads = heldReceiveHeads
    }
}

extension NetState: StateCodable {
    public func encode(to writer: inout StateWriter) {
        for byte in mac.array { writer.write(byte) }
        receiveRateLimiter.encode(to: &writer)
        transmitRateLimiter.encode(to: &writer)
        writer.writeCount(heldReceiveHeads.count)
        for head in heldReceiveHeads { writer.write(head) }
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        var mac: [UInt8] = []
        for _ in 0..<6 { mac.append(try reader.read(UInt8.self, "net MAC")) }
        let receive = try RateLimiterState(from: &reader)
        let transmit = try RateLimiterState(from: &reader)
        let count = try reader.readCount("net held RX chains", limit: Int(SplitQueue.sizeLimit))
        var heads: [UInt16] = []
        for _ in 0..<count { heads.append(try reader.read(UInt16.self, "net held RX head")) }
        self.init(mac: MACAddress(mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]), receiveRateLimiter: receive,
                  transmitRateLimiter: transmit, heldReceiveHeads: heads)
    }
}

extension Net: SnapshotableDevice {
    public func saveState() -> NetState {
        NetState(mac: mac, receiveRateLimiter: receiveRateLimiter.saveState(),
                 transmitRateLimiter: transmitRateLimiter.saveState(),
                 heldReceiveHeads: receiver.withLock { $0.heldHeads })
    }

    /// The guest knows the interface by its MAC. Held chains must be distinct chains of the
    /// RX queue that a receiver could hold (device-writable, large enough for a header), and
    /// without MRG_RXBUF at most one.
    public func validateRestore(_ state: NetState, context: RestoreContext) throws(SnapshotStateError) {
        guard state.mac == mac else {
            throw .mismatch(field: "net MAC", saved: Self.number(state.mac), device: Self.number(mac))
        }
        try state.receiveRateLimiter.validate(field: "net RX rate limiter")
        try state.transmitRateLimiter.validate(field: "net TX rate limiter")
        let heads = state.heldReceiveHeads
        guard !heads.isEmpty else { return }
        let queue = context.queues[Self.receiveQueue]
        guard context.activated, queue.isReady else { throw .inconsistent("net holds RX chains but is not running") }
        let mergeable = context.features & NetFeature.mergeableRxBuffers != 0
        guard heads.count <= (mergeable ? Int(queue.size) : 1) else {
            throw .tooMany(field: "net held RX chains", count: UInt64(heads.count), limit: mergeable ? UInt64(queue.size) : 1)
        }
        for head in heads where head >= queue.size { throw .invalidValue(field: "net held RX head", value: UInt64(head)) }
        guard Set(heads).count == heads.count else { throw .inconsistent("net holds an RX chain twice") }
        guard queue.nextAvailable &- queue.nextUsed >= UInt16(heads.count) else {
            throw .inconsistent("net holds more RX chains than it has taken from the ring")
        }
        // A trial hold on this (not started) device's receiver, emptied again either way.
        let held = receiver.withLock { receiver in
            defer { receiver.reset() }
            return receiver.hold(heads: heads, queue: queue, memory: context.memory)
        }
        guard held else { throw .invalidValue(field: "net held RX chain", value: UInt64(heads[0])) }
    }

    public func applyRestore(_ state: NetState, context: RestoreContext) {
        receiveRateLimiter.restore(state.receiveRateLimiter)
        transmitRateLimiter.restore(state.transmitRateLimiter)
        guard !state.heldReceiveHeads.isEmpty else { return }
        // Validated against the same queue and memory: this hold succeeds.
        _ = receiver.withLock { receiver in
            receiver.hold(heads: state.heldReceiveHeads, queue: context.queues[Self.receiveQueue], memory: context.memory)
        }
    }

    private static func number(_ mac: MACAddress) -> UInt64 {
        mac.array.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
