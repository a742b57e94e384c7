import GuestMemory

/// Walks one descriptor chain, validating each descriptor as it yields it (rust-vmm style).
///
/// Nothing is collected: the device pulls descriptors one at a time with `next()`, so a walk
/// allocates nothing. Each yielded descriptor's buffer lies inside guest RAM (overflow-safe:
/// `GuestMemory.contains` never adds address and length); `next` links are checked against
/// the table they index; and a budget of `queueSize` descriptors ends any loop the guest
/// builds. An indirect descriptor is followed, not yielded: its table must be a non-empty
/// multiple of 16 bytes inside RAM, no larger than the queue, without NEXT, and may not
/// contain another indirect descriptor (2.7.5.3.1).
///
/// After an error `next()` returns nil: the chain is over, whatever the guest wrote.
public struct DescriptorChain: Sendable {
    /// The head index from the available ring; what the device returns in the used ring.
    public let head: UInt16

    private let memory: GuestMemory
    private let queueSize: UInt16
    private let indirectAllowed: Bool
    private var table: GuestAddress
    private var tableSize: UInt32
    private var nextIndex: UInt32
    private var hasNext = true
    private var inIndirectTable = false
    private var budget: UInt32

    /// `head` must already be below `queueSize` and the table of `queueSize` descriptors at
    /// `descriptorTable` inside RAM; `SplitQueue` checks both before it builds a chain.
    init(memory: GuestMemory, descriptorTable: GuestAddress, queueSize: UInt16, head: UInt16,
         indirectAllowed: Bool) {
        self.head = head
        self.memory = memory
        self.queueSize = queueSize
        self.indirectAllowed = indirectAllowed
        table = descriptorTable
        tableSize = UInt32(queueSize)
        nextIndex = UInt32(head)
        budget = UInt32(queueSize)
    }

    /// The next buffer of the chain, nil at its end (or after an error).
    public mutating func next() throws(DescriptorChainError) -> Descriptor? {
        guard hasNext else { return nil }
        do {
            return try advance()
        } catch {
            hasNext = false
            throw error
        }
    }

    private mutating func advance() throws(DescriptorChainError) -> Descriptor {
        // At most two passes: one through an indirect descriptor, one in its table.
        while true {
            guard budget > 0 else { throw .tooLong(limit: UInt32(queueSize)) }
            let raw = try readDescriptor(at: nextIndex)
            if raw.flags & Descriptor.flagIndirect != 0 {
                try enterIndirectTable(raw)
                continue
            }
            // The device must not touch a buffer outside RAM, nor one whose end wraps.
            guard memory.contains(GuestAddress(raw.address), length: UInt64(raw.length)) else {
                throw .outOfRange(address: raw.address, length: raw.length)
            }
            if raw.flags & Descriptor.flagNext != 0 {
                guard UInt32(raw.next) < tableSize else {
                    throw .nextOutOfRange(next: raw.next, tableSize: tableSize)
                }
                nextIndex = UInt32(raw.next)
            } else {
                hasNext = false
            }
            budget -= 1
            return Descriptor(address: GuestAddress(raw.address), length: raw.length, flags: raw.flags)
        }
    }

    private mutating func enterIndirectTable(_ raw: RawDescriptor) throws(DescriptorChainError) {
        guard indirectAllowed else { throw .indirectNotNegotiated }
        guard !inIndirectTable else { throw .nestedIndirect }
        guard raw.flags & Descriptor.flagNext == 0 else { throw .indirectWithNext }
        let count = raw.length / UInt32(Descriptor.size)
        guard raw.length % UInt32(Descriptor.size) == 0, count > 0, count <= UInt32(queueSize) else {
            throw .invalidIndirectLength(raw.length)
        }
        guard memory.contains(GuestAddress(raw.address), length: UInt64(raw.length)) else {
            throw .outOfRange(address: raw.address, length: raw.length)
        }
        // VIRTQ_DESC_F_WRITE on the indirect descriptor itself is ignored (2.7.5.3.2).
        table = GuestAddress(raw.address)
        tableSize = count
        nextIndex = 0
        inIndirectTable = true
    }

    private struct RawDescriptor {
        var address: UInt64
        var length: UInt32
        var flags: UInt16
        var next: UInt16
    }

    private func readDescriptor(at index: UInt32) throws(DescriptorChainError) -> RawDescriptor {
        // index < tableSize and the table is inside RAM, so neither step can overflow.
        let address = GuestAddress(table.rawValue + UInt64(index) * Descriptor.size)
        let pointer: UnsafeMutableRawPointer
        do {
            pointer = try memory.hostPointer(at: address, length: Descriptor.size)
        } catch {
            throw .memory(error)
        }
        return RawDescriptor(
            address: UInt64(littleEndian: pointer.loadUnaligned(as: UInt64.self)),
            length: UInt32(littleEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
            flags: UInt16(littleEndian: pointer.loadUnaligned(fromByteOffset: 12, as: UInt16.self)),
            next: UInt16(littleEndian: pointer.loadUnaligned(fromByteOffset: 14, as: UInt16.self)))
    }
}
