import GuestMemory

/// A split virtqueue as a snapshot keeps it (`SplitQueue.savedState`): plain data.
public struct QueueState: Equatable, Sendable {
    public var maxSize: UInt16
    public var size: UInt16
    public var isReady: Bool
    public var descriptorTable: UInt64
    public var availableRing: UInt64
    public var usedRing: UInt64
    /// VIRTIO_F_EVENT_IDX and VIRTIO_F_INDIRECT_DESC as negotiated at DRIVER_OK.
    public var eventIndex: Bool
    public var indirectDescriptors: Bool
    /// The device's next available entry, its next used entry, and the used index the
    /// driver was last told about (the event-index suppression's memory).
    public var nextAvailable: UInt16
    public var nextUsed: UInt16
    public var signalledUsed: UInt16

    public init(maxSize: UInt16, size: UInt16, isReady: Bool, descriptorTable: UInt64, availableRing: UInt64,
                usedRing: UInt64, eventIndex: Bool, indirectDescriptors: Bool, nextAvailable: UInt16,
                nextUsed: UInt16, signalledUsed: UInt16) {
        self.maxSize = maxSize
        self.size = size
        self.isReady = isReady
        self.descriptorTable = descriptorTable
        self.availableRing = availableRing
        self.usedRing = usedRing
        self.eventIndex = eventIndex
        self.indirectDescriptors = indirectDescriptors
        self.nextAvailable = nextAvailable
        self.nextUsed = nextUsed
        self.signalledUsed = signalledUsed
    }

    /// Checks the state against the device's queue (`maxSize`) and guest memory. An active
    /// ready queue must be usable as it is (the rings inside RAM and aligned, as activation
    /// checks them), with the ring features the driver negotiated; the device cannot hold
    /// more chains than the queue has (next_avail − next_used ≤ size).
    func validate(index: Int, deviceMaxSize: UInt16, memory: GuestMemory, activated: Bool,
                  eventIndex negotiatedEventIndex: Bool, indirect negotiatedIndirect: Bool) throws(SnapshotStateError) {
        let field = "queue \(index)"
        guard maxSize == deviceMaxSize else {
            throw .mismatch(field: "\(field) max size", saved: UInt64(maxSize), device: UInt64(deviceMaxSize))
        }
        guard size > 0, size <= maxSize, size & (size - 1) == 0 else {
            throw .invalidValue(field: "\(field) size", value: UInt64(size))
        }
        guard nextAvailable &- nextUsed <= size else {
            throw .inconsistent("\(field): next avail \(nextAvailable) is more than \(size) ahead of next used \(nextUsed)")
        }
        guard activated, isReady else {
            // Not in use: the positions are where activation puts them. (The ring features may
            // be set: a failed activation starts the valid queues before the device refuses.)
            guard nextAvailable == 0, nextUsed == 0, signalledUsed == 0 else {
                throw .inconsistent("\(field) has ring positions but was never started")
            }
            return
        }
        guard eventIndex == negotiatedEventIndex, indirectDescriptors == negotiatedIndirect else {
            throw .inconsistent("\(field) ring features differ from the negotiated ones")
        }
        guard !SplitQueue(restoring: self).isValid(in: memory) else { return }
        // Name the first area that fails, for the error.
        let count = UInt64(size)
        let areas: [(String, UInt64, UInt64, UInt64)] = [
            ("descriptor table", descriptorTable, Descriptor.size * count, 16),
            ("available ring", availableRing, 6 + 2 * count, 2),
            ("used ring", usedRing, 6 + 8 * count, 4),
        ]
        for (name, address, length, alignment) in areas
        where address % alignment != 0 || !memory.contains(GuestAddress(address), length: length) {
            throw .outsideMemory(field: "\(field) \(name)", address: address)
        }
        throw .outsideMemory(field: field, address: descriptorTable)
    }
}

extension QueueState: StateCodable {
    public func encode(to writer: inout StateWriter) {
        writer.write(maxSize)
        writer.write(size)
        writer.write(isReady)
        writer.write(descriptorTable)
        writer.write(availableRing)
        writer.write(usedRing)
        writer.write(eventIndex)
        writer.write(indirectDescriptors)
        writer.write(nextAvailable)
        writer.write(nextUsed)
        writer.write(signalledUsed)
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        let maxSize = try reader.read(UInt16.self, "queue max size")
        // The split ring's own limit; that this device has this many is the restore's check.
        guard maxSize > 0, maxSize <= SplitQueue.sizeLimit, maxSize & (maxSize - 1) == 0 else {
            throw .invalidValue(field: "queue max size", value: UInt64(maxSize))
        }
        self.init(maxSize: maxSize, size: try reader.read(UInt16.self, "queue size"),
                  isReady: try reader.readBool("queue ready"),
                  descriptorTable: try reader.read(UInt64.self, "queue descriptor table"),
                  availableRing: try reader.read(UInt64.self, "queue available ring"),
                  usedRing: try reader.read(UInt64.self, "queue used ring"),
                  eventIndex: try reader.readBool("queue event index"),
                  indirectDescriptors: try reader.readBool("queue indirect descriptors"),
                  nextAvailable: try reader.read(UInt16.self, "queue next avail"),
                  nextUsed: try reader.read(UInt16.self, "queue next used"),
                  signalledUsed: try reader.read(UInt16.self, "queue signalled used"))
    }
}
