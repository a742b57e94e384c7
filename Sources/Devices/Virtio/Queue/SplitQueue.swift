import GuestMemory
import Synchronization

/// One split virtqueue (virtio 1.x, 2.7): the driver's configuration plus the device's
/// position in the rings. Plain data; the transport keeps each queue under its own lock.
///
/// Ring layout (all little-endian):
/// - descriptor table: `size` × 16 bytes, 16-aligned;
/// - available ring: flags u16, idx u16, ring[size] u16, used_event u16 — 2-aligned;
/// - used ring: flags u16, idx u16, ring[size] {id u32, len u32}, avail_event u16 — 4-aligned.
///
/// The guest writes the available ring and descriptors from other CPUs while the device
/// reads them, so indices are read once into locals, and fences order the accesses as
/// 2.7.13 and 2.7.14 require (x86 is TSO, but the fences also stop the compiler reordering).
public struct SplitQueue: Sendable {
    /// The largest queue size the split ring allows (2.7).
    public static let sizeLimit: UInt16 = 32768

    static let availableNoInterrupt: UInt16 = 1
    static let usedNoNotify: UInt16 = 1

    public let maxSize: UInt16

    // Configuration written by the driver (through the transport's registers).
    public var size: UInt16
    public var isReady = false
    public var descriptorTable = GuestAddress(0)
    public var availableRing = GuestAddress(0)
    public var usedRing = GuestAddress(0)

    // Negotiated when the device was activated.
    public private(set) var eventIndex = false
    public private(set) var indirectDescriptors = false

    // The device's position: next available entry to take, next used entry to fill.
    public private(set) var nextAvailable: UInt16 = 0
    public private(set) var nextUsed: UInt16 = 0
    /// `nextUsed` when the guest was last told (or found not to want telling) about used
    /// buffers; only newer entries can need a notification.
    private var signalledUsed: UInt16 = 0

    public init(maxSize: UInt16) {
        precondition(maxSize > 0 && maxSize <= Self.sizeLimit && maxSize & (maxSize - 1) == 0,
                     "queue max size must be a power of two up to 32768")
        self.maxSize = maxSize
        size = maxSize
    }

    /// Back to the state after device reset (4.2.2.1: every queue register returns to its
    /// initial value).
    public mutating func reset() {
        self = SplitQueue(maxSize: maxSize)
    }

    /// A queue size the driver may choose: 1...maxSize and a power of two (2.7).
    public func isValidSize(_ candidate: UInt32) -> Bool {
        candidate > 0 && candidate <= UInt32(maxSize) && candidate & (candidate - 1) == 0
    }

    /// True when the rings have the alignment of 2.7 and lie wholly inside guest RAM, so that
    /// every later ring access through a checked index is known to succeed.
    public func isValid(in memory: GuestMemory) -> Bool {
        guard isValidSize(UInt32(size)) else { return false }
        let count = UInt64(size)
        return descriptorTable.rawValue % 16 == 0 && availableRing.rawValue % 2 == 0
            && usedRing.rawValue % 4 == 0
            && memory.contains(descriptorTable, length: Descriptor.size * count)
            && memory.contains(availableRing, length: 6 + 2 * count)
            && memory.contains(usedRing, length: 6 + 8 * count)
    }

    /// Starts the device side of the ring at DRIVER_OK.
    public mutating func activate(eventIndex: Bool, indirectDescriptors: Bool) {
        self.eventIndex = eventIndex
        self.indirectDescriptors = indirectDescriptors
        nextAvailable = 0
        nextUsed = 0
        signalledUsed = 0
    }

    // MARK: - Snapshot

    /// Everything of the queue a snapshot keeps: the driver's configuration, the negotiated
    /// ring features and the device's position in the rings.
    public var savedState: QueueState {
        QueueState(maxSize: maxSize, size: size, isReady: isReady, descriptorTable: descriptorTable.rawValue,
                   availableRing: availableRing.rawValue, usedRing: usedRing.rawValue, eventIndex: eventIndex,
                   indirectDescriptors: indirectDescriptors, nextAvailable: nextAvailable, nextUsed: nextUsed,
                   signalledUsed: signalledUsed)
    }

    /// The queue `state` describes; the transport has checked it (`QueueState.validate`).
    init(restoring state: QueueState) {
        self.init(maxSize: state.maxSize)
        size = state.size
        isReady = state.isReady
        descriptorTable = GuestAddress(state.descriptorTable)
        availableRing = GuestAddress(state.availableRing)
        usedRing = GuestAddress(state.usedRing)
        eventIndex = state.eventIndex
        indirectDescriptors = state.indirectDescriptors
        nextAvailable = state.nextAvailable
        nextUsed = state.nextUsed
        signalledUsed = state.signalledUsed
    }

    /// The chain at `head`, which the device took from the ring before a snapshot and still
    /// holds (a restored device walks it again: its buffers now live at new host addresses).
    /// Nil for a head outside the table. The table itself was validated with the queue.
    func heldChain(head: UInt16, memory: GuestMemory) -> DescriptorChain? {
        guard head < size else { return nil }
        return DescriptorChain(memory: memory, descriptorTable: descriptorTable, queueSize: size,
                               head: head, indirectAllowed: indirectDescriptors)
    }

    // MARK: - Taking and returning buffers

    /// The next available chain, or nil when the driver has made none available.
    ///
    /// An available index more than `size` ahead, or a head outside the table, is corruption
    /// of the ring itself: the walk stops with a `QueueError` rather than guess (or spin).
    public mutating func popChain(memory: GuestMemory) throws(QueueError) -> DescriptorChain? {
        let available = try read(UInt16.self, availableRing, offset: 2, memory)
        // Ring entries and descriptors written before idx must be read after it (2.7.13.3).
        atomicMemoryFence(ordering: .acquiring)
        let pending = available &- nextAvailable
        if pending == 0 { return nil }
        guard pending <= size else {
            throw .availableIndexJump(availableIndex: available, nextAvailable: nextAvailable, size: size)
        }
        let slot = UInt64(nextAvailable & (size - 1))
        let head = try read(UInt16.self, availableRing, offset: 4 + 2 * slot, memory)
        guard head < size else { throw .headOutOfRange(head: head, size: size) }
        nextAvailable &+= 1
        return DescriptorChain(memory: memory, descriptorTable: descriptorTable, queueSize: size,
                               head: head, indirectAllowed: indirectDescriptors)
    }

    /// Puts back the last `count` chains `popChain` returned, unconsumed (a rate limiter said
    /// "not yet", or a batch read had no bytes for them): the next pops yield them again.
    /// Valid only for chains popped last, none of them given to `addUsed` (rust-vmm's
    /// `go_to_previous_position`).
    public mutating func undoPop(count: UInt16 = 1) {
        nextAvailable &-= count
    }

    /// Hands the chain at `head` back with `length` bytes written into its buffers.
    public mutating func addUsed(head: UInt16, length: UInt32, memory: GuestMemory) throws(QueueError) {
        guard head < size else { throw .usedHeadOutOfRange(head: head, size: size) }
        if memory.deviceWriteLog != nil { noteWrittenBuffers(head: head, memory: memory) }
        let element = 4 + 8 * UInt64(nextUsed & (size - 1))
        try write(UInt32(head), usedRing, offset: element, memory)
        try write(length, usedRing, offset: element + 4, memory)
        // The element must be visible before the index that publishes it (2.7.14).
        atomicMemoryFence(ordering: .releasing)
        nextUsed &+= 1
        try write(nextUsed, usedRing, offset: 2, memory)
    }

    /// For a Diff snapshot: the chain the device hands back is the one it wrote into (a device
    /// writes only device-writable buffers, and only before it returns the chain, so a chain
    /// held across a snapshot is counted when it comes back). A chain the guest broke since
    /// it was popped is the guest's own problem: only its snapshot can suffer.
    private func noteWrittenBuffers(head: UInt16, memory: GuestMemory) {
        var chain = DescriptorChain(memory: memory, descriptorTable: descriptorTable, queueSize: size,
                                    head: head, indirectAllowed: indirectDescriptors)
        while let descriptor = try? chain.next() {
            if descriptor.isDeviceWritable { memory.noteDeviceWrite(descriptor.address, length: UInt64(descriptor.length)) }
        }
    }

    // MARK: - Notification suppression (2.7.7, 2.7.10)

    /// Asks the driver not to notify while the device is busy with the queue anyway. With
    /// EVENT_IDX there is nothing to do: `avail_event` simply stays behind.
    public mutating func disableNotification(memory: GuestMemory) throws(QueueError) {
        guard !eventIndex else { return }
        try write(Self.usedNoNotify, usedRing, offset: 0, memory)
    }

    /// Asks to be notified of the next buffer; returns true when buffers arrived meanwhile, in
    /// which case the caller processes again rather than waiting for a kick that the driver
    /// may already have decided not to send.
    public mutating func enableNotification(memory: GuestMemory) throws(QueueError) -> Bool {
        if eventIndex {
            try write(nextAvailable, usedRing, offset: 4 + 8 * UInt64(size), memory)
        } else {
            try write(UInt16(0), usedRing, offset: 0, memory)
        }
        // Our store must be visible before we look at avail->idx again, or a buffer added
        // between the two would get neither a kick nor a look (store→load needs a full fence).
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let available = try read(UInt16.self, availableRing, offset: 2, memory)
        return available != nextAvailable
    }

    /// The driver's avail->idx: how many buffers it has made available, ever (mod 2^16).
    public func availableIndex(memory: GuestMemory) throws(QueueError) -> UInt16 {
        try read(UInt16.self, availableRing, offset: 2, memory)
    }

    /// Whether the driver wants an interrupt for the buffers used since the last call.
    /// Without EVENT_IDX, VIRTQ_AVAIL_F_NO_INTERRUPT suppresses it; with EVENT_IDX, only
    /// crossing `used_event` does (vring_need_event).
    public mutating func needsNotification(memory: GuestMemory) throws(QueueError) -> Bool {
        let old = signalledUsed
        let new = nextUsed
        guard new != old else { return false }
        signalledUsed = new
        // The used idx store must be visible before the driver's suppression state is read.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if eventIndex {
            let usedEvent = try read(UInt16.self, availableRing, offset: 4 + 2 * UInt64(size), memory)
            return new &- usedEvent &- 1 < new &- old
        }
        let flags = try read(UInt16.self, availableRing, offset: 0, memory)
        return flags & Self.availableNoInterrupt == 0
    }

    // MARK: - Ring access

    private func read<T: FixedWidthInteger>(
        _ type: T.Type, _ base: GuestAddress, offset: UInt64, _ memory: GuestMemory
    ) throws(QueueError) -> T {
        // Offsets stay inside the ring area validated at activation; the checks here only
        // matter for a queue used without that validation.
        guard let address = base.adding(offset) else {
            throw .memory(.outOfRange(address: base.rawValue, length: offset))
        }
        do {
            return try memory.read(T.self, at: address)
        } catch {
            throw .memory(error)
        }
    }

    private func write<T: FixedWidthInteger>(
        _ value: T, _ base: GuestAddress, offset: UInt64, _ memory: GuestMemory
    ) throws(QueueError) {
        guard let address = base.adding(offset) else {
            throw .memory(.outOfRange(address: base.rawValue, length: offset))
        }
        memory.noteDeviceWrite(address, length: UInt64(MemoryLayout<T>.size))
        do {
            try memory.write(value, at: address)
        } catch {
            throw .memory(error)
        }
    }
}
