import GuestMemory

/// Why a queue can no longer be used until the driver resets the device. These are the ring's
/// own invariants, not one bad request: the transport answers them with DEVICE_NEEDS_RESET.
public enum QueueError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The driver claims more new buffers than the ring holds (avail->idx jumped).
    case availableIndexJump(availableIndex: UInt16, nextAvailable: UInt16, size: UInt16)
    /// An available-ring entry names a descriptor outside the table.
    case headOutOfRange(head: UInt16, size: UInt16)
    /// The device tried to return a head it never took.
    case usedHeadOutOfRange(head: UInt16, size: UInt16)
    /// A ring area is no longer guest RAM (checked at activation, so this is a bug guard).
    case memory(GuestMemoryError)

    public var description: String {
        switch self {
        case let .availableIndexJump(available, next, size):
            "avail idx \(available) is more than \(size) ahead of next avail \(next)"
        case let .headOutOfRange(head, size):
            "available head \(head) is outside a queue of \(size)"
        case let .usedHeadOutOfRange(head, size):
            "used head \(head) is outside a queue of \(size)"
        case let .memory(error):
            "virtqueue ring access failed: \(error)"
        }
    }
}

/// Why one descriptor chain was rejected. The chain's walk stops at the first of these; the
/// rest of the queue is unaffected, and the device completes the chain as it sees fit.
public enum DescriptorChainError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A buffer (or an indirect table) is not wholly inside one region of guest RAM, or wraps.
    case outOfRange(address: UInt64, length: UInt32)
    /// `next` names a descriptor beyond the table it lives in.
    case nextOutOfRange(next: UInt16, tableSize: UInt32)
    /// More descriptors than the queue size: a loop, or a driver breaking 2.7.5.3.1.
    case tooLong(limit: UInt32)
    /// VIRTQ_DESC_F_INDIRECT without VIRTIO_RING_F_INDIRECT_DESC negotiated.
    case indirectNotNegotiated
    /// An indirect descriptor inside an indirect table.
    case nestedIndirect
    /// An indirect descriptor that also has VIRTQ_DESC_F_NEXT.
    case indirectWithNext
    /// An indirect table whose length is zero, not a multiple of 16, or larger than the queue.
    case invalidIndirectLength(UInt32)
    /// Reading a descriptor failed (the table was validated, so this is a bug guard).
    case memory(GuestMemoryError)

    public var description: String {
        switch self {
        case let .outOfRange(address, length):
            "descriptor of \(length) bytes at 0x\(String(address, radix: 16)) is outside guest RAM"
        case let .nextOutOfRange(next, size): "descriptor next \(next) is outside a table of \(size)"
        case let .tooLong(limit): "descriptor chain longer than \(limit) (loop?)"
        case .indirectNotNegotiated: "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC"
        case .nestedIndirect: "indirect descriptor inside an indirect table"
        case .indirectWithNext: "indirect descriptor with VIRTQ_DESC_F_NEXT"
        case let .invalidIndirectLength(length): "indirect table of \(length) bytes"
        case let .memory(error): "descriptor read failed: \(error)"
        }
    }
}
