import Devices
import GuestMemory

/// The driver side of one split virtqueue in test memory, playing the guest: it writes
/// descriptors and the available ring, and reads the used ring (virtio 1.x 2.7).
///
/// Descriptors are handed out round-robin with no free list; tests submit few chains.
public final class MockQueue {
    public let index: Int
    public let size: UInt16
    public let descriptorTable: GuestAddress
    public let availableRing: GuestAddress
    public let usedRing: GuestAddress

    private unowned let driver: MockVirtioDriver
    private var memory: GuestMemory { driver.memory }
    private var nextDescriptor: UInt16 = 0
    public private(set) var availableIndex: UInt16 = 0
    private var lastSeenUsed: UInt16 = 0

    init(index: Int, size: UInt16, driver: MockVirtioDriver) {
        self.index = index
        self.size = size
        self.driver = driver
        descriptorTable = driver.allocate(16 * Int(size), alignment: 16)
        availableRing = driver.allocate(6 + 2 * Int(size), alignment: 2)
        usedRing = driver.allocate(6 + 8 * Int(size), alignment: 4)
    }

    // MARK: - Descriptors

    /// Writes one raw descriptor into `table` (the queue's own table by default).
    public func writeDescriptor(_ index: UInt16, address: GuestAddress, length: UInt32, flags: UInt16,
                                next: UInt16 = 0, table: GuestAddress? = nil) {
        let base = (table ?? descriptorTable).rawValue + 16 * UInt64(index)
        try! memory.write(address.rawValue, at: GuestAddress(base))
        try! memory.write(length, at: GuestAddress(base + 8))
        try! memory.write(flags, at: GuestAddress(base + 12))
        try! memory.write(next, at: GuestAddress(base + 14))
    }

    /// Reserves `count` consecutive descriptor slots (wrapping) and returns the first.
    public func reserveDescriptors(_ count: Int) -> UInt16 {
        let first = nextDescriptor
        nextDescriptor = UInt16((Int(nextDescriptor) + count) % Int(size))
        return first
    }

    /// Builds a direct chain of `buffers` without making it available; returns its head.
    public func writeChain(_ buffers: [MockBuffer]) -> UInt16 {
        precondition(!buffers.isEmpty && buffers.count <= Int(size))
        let head = reserveDescriptors(buffers.count)
        for (position, buffer) in buffers.enumerated() {
            let index = UInt16((Int(head) + position) % Int(size))
            let last = position == buffers.count - 1
            let next = UInt16((Int(index) + 1) % Int(size))
            writeDescriptor(index, address: buffer.address, length: buffer.length,
                            flags: Self.flags(buffer, hasNext: !last), next: last ? 0 : next)
        }
        return head
    }

    /// Submits a direct chain and returns its head.
    @discardableResult
    public func submit(_ buffers: [MockBuffer]) -> UInt16 {
        let head = writeChain(buffers)
        makeAvailable(head)
        return head
    }

    /// Writes `buffers` as an indirect table in guest memory and submits one descriptor that
    /// points at it (VIRTQ_DESC_F_INDIRECT). Returns the head.
    @discardableResult
    public func submitIndirect(_ buffers: [MockBuffer]) -> UInt16 {
        let table = writeIndirectTable(buffers)
        let head = reserveDescriptors(1)
        writeDescriptor(head, address: table, length: UInt32(16 * buffers.count), flags: Descriptor.flagIndirect)
        makeAvailable(head)
        return head
    }

    /// An indirect table holding `buffers` as one chain (entry i links to i+1).
    public func writeIndirectTable(_ buffers: [MockBuffer]) -> GuestAddress {
        let table = driver.allocate(16 * max(buffers.count, 1), alignment: 16)
        for (position, buffer) in buffers.enumerated() {
            let last = position == buffers.count - 1
            writeDescriptor(UInt16(position), address: buffer.address, length: buffer.length,
                            flags: Self.flags(buffer, hasNext: !last), next: last ? 0 : UInt16(position + 1),
                            table: table)
        }
        return table
    }

    static func flags(_ buffer: MockBuffer, hasNext: Bool) -> UInt16 {
        (buffer.deviceWritable ? Descriptor.flagWrite : 0) | (hasNext ? Descriptor.flagNext : 0)
    }

    // MARK: - Available ring

    /// Puts `head` in the next available slot and publishes it by bumping avail->idx.
    public func makeAvailable(_ head: UInt16) {
        let slot = UInt64(availableIndex % size)
        try! memory.write(head, at: GuestAddress(availableRing.rawValue + 4 + 2 * slot))
        availableIndex &+= 1
        try! memory.write(availableIndex, at: GuestAddress(availableRing.rawValue + 2))
    }

    /// Writes avail->idx directly (e.g. a jump larger than the queue).
    public func setAvailableIndex(_ value: UInt16) {
        availableIndex = value
        try! memory.write(value, at: GuestAddress(availableRing.rawValue + 2))
    }

    /// avail->flags (VIRTQ_AVAIL_F_NO_INTERRUPT = 1).
    public func setAvailableFlags(_ flags: UInt16) {
        try! memory.write(flags, at: availableRing)
    }

    /// used_event, after the available ring (EVENT_IDX).
    public func setUsedEvent(_ value: UInt16) {
        try! memory.write(value, at: GuestAddress(availableRing.rawValue + 4 + 2 * UInt64(size)))
    }

    // MARK: - Used ring

    public var usedIndex: UInt16 { try! memory.read(at: GuestAddress(usedRing.rawValue + 2)) }
    /// used->flags (VIRTQ_USED_F_NO_NOTIFY = 1).
    public var usedFlags: UInt16 { try! memory.read(at: usedRing) }
    /// avail_event, after the used ring (EVENT_IDX).
    public var availableEvent: UInt16 {
        try! memory.read(at: GuestAddress(usedRing.rawValue + 4 + 8 * UInt64(size)))
    }

    /// Used entries published since the last call.
    public func takeUsed() -> [UsedElement] {
        var elements: [UsedElement] = []
        let end = usedIndex
        while lastSeenUsed != end {
            let base = usedRing.rawValue + 4 + 8 * UInt64(lastSeenUsed % size)
            elements.append(UsedElement(id: try! memory.read(at: GuestAddress(base)),
                                        length: try! memory.read(at: GuestAddress(base + 4))))
            lastSeenUsed &+= 1
        }
        return elements
    }

    /// Writes QueueNotify for this queue, as a guest kick would.
    public func notify() {
        driver.write(MMIORegister.queueNotify, UInt32(index))
    }
}
