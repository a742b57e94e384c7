/// Routes guest port-I/O or MMIO accesses to the device whose window contains them.
///
/// A value type: the VMM inserts every device while it builds the VM, then hands the finished
/// `Bus` to its vCPU threads. From then on each thread holds an immutable copy, so lookups need
/// no lock, and an insert after that point cannot reach a running vCPU. Devices do their own
/// locking.
///
/// Lookup is a binary search over windows kept sorted at insert time: no allocation.
public struct Bus: Sendable {
    private struct Entry: Sendable {
        let range: BusRange
        let device: any BusDevice
    }

    public let space: BusAddressSpace
    private var entries: [Entry] = []

    public init(space: BusAddressSpace) {
        self.space = space
    }

    /// Every occupied window, in address order.
    public var ranges: [BusRange] { entries.map(\.range) }

    /// Places `device` at `[base, base+length)`; the device will see offsets from `base`.
    public mutating func insert(_ device: any BusDevice, base: UInt64, length: UInt64) throws(BusError) {
        guard length > 0 else { throw .emptyRange(base: base) }
        guard let range = BusRange(base: base, length: length) else {
            throw .wrapsAround(base: base, length: length)
        }
        guard range.last <= space.lastAddress else { throw .outsideAddressSpace(range, space: space) }
        let index = firstIndex(withBaseAbove: range.base)
        // Sorted and disjoint, so only the neighbours on either side can collide.
        if index > 0, entries[index - 1].range.overlaps(range) {
            throw .overlap(new: range, existing: entries[index - 1].range)
        }
        if index < entries.count, entries[index].range.overlaps(range) {
            throw .overlap(new: range, existing: entries[index].range)
        }
        entries.insert(Entry(range: range, device: device), at: index)
    }

    /// Reads `data.count` bytes at `address`. Returns false when no device claims the whole
    /// access (nothing there, an access straddling the end of a window, or a size outside
    /// 1...8); `data` is then filled with 0xFF, which is what an undecoded ISA/PCI read returns
    /// on a PC and what guests probe for.
    public func read(address: UInt64, data: UnsafeMutableRawBufferPointer) -> Bool {
        guard let (device, offset) = resolve(address: address, count: data.count) else {
            for index in data.indices { data[index] = 0xFF }
            return false
        }
        device.read(offset: offset, data: data)
        return true
    }

    /// Writes `data` at `address`. Returns false (and drops the write) when no device claims
    /// the whole access, with the same rules as `read`.
    public func write(address: UInt64, data: UnsafeRawBufferPointer) -> Bool {
        guard let (device, offset) = resolve(address: address, count: data.count) else { return false }
        device.write(offset: offset, data: data)
        return true
    }

    private func resolve(address: UInt64, count: Int) -> (any BusDevice, UInt64)? {
        guard count >= 1, count <= 8 else { return nil }
        let index = firstIndex(withBaseAbove: address)
        guard index > 0 else { return nil }
        let entry = entries[index - 1]
        // Subtraction instead of address + count so that a window at the top of the space
        // cannot overflow.
        guard address <= entry.range.last, UInt64(count - 1) <= entry.range.last - address else {
            return nil
        }
        return (entry.device, address - entry.range.base)
    }

    /// Index of the first window whose base is above `address` (entries.count if none).
    private func firstIndex(withBaseAbove address: UInt64) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = low + (high - low) / 2
            if entries[middle].range.base <= address {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }
}
