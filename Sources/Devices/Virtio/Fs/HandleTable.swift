/// Open files and directories the guest holds by handle (`fh`), bounded: at most `capacity`
/// (each holds a descriptor), EMFILE beyond. Slots are preallocated, so OPEN and RELEASE
/// allocate nothing.
///
/// A handle is a slot index and the slot's generation: a released handle the guest sends
/// again misses instead of reaching the file that took the slot after it.
struct HandleTable {
    enum Kind { case file, directory }

    private struct Slot {
        var fd: Int32 = -1
        var kind = Kind.file
        /// The directory node a directory handle reads (READDIRPLUS looks names up in it).
        var node: UInt64 = 0
        var generation: UInt32 = 0
    }

    let capacity: Int
    private var slots: [Slot]
    private var free: [Int]

    init(capacity: Int) {
        self.capacity = capacity
        slots = Array(repeating: Slot(), count: capacity)
        free = Array((0..<capacity).reversed())
    }

    var count: Int { capacity - free.count }

    /// A handle owning `fd`; `fd` is closed if the table is full.
    mutating func insert(_ fd: Int32, kind: Kind, node: UInt64 = 0) throws(FuseErrno) -> UInt64 {
        guard let index = free.popLast() else {
            HostFiles.close(fd)
            throw .tooManyHandles
        }
        slots[index].fd = fd
        slots[index].kind = kind
        slots[index].node = node
        return UInt64(slots[index].generation) << 32 | UInt64(index)
    }

    /// The descriptor (and node) of handle `fh`, which must be open and of `kind`.
    func descriptor(_ fh: UInt64, kind: Kind) throws(FuseErrno) -> (fd: Int32, node: UInt64) {
        let index = try slot(fh, kind: kind)
        return (slots[index].fd, slots[index].node)
    }

    mutating func remove(_ fh: UInt64, kind: Kind) throws(FuseErrno) {
        let index = try slot(fh, kind: kind)
        HostFiles.close(slots[index].fd)
        slots[index].fd = -1
        slots[index].generation &+= 1
        free.append(index)
    }

    mutating func removeAll() {
        for index in slots.indices where slots[index].fd >= 0 {
            HostFiles.close(slots[index].fd)
            slots[index].fd = -1
            slots[index].generation &+= 1
            free.append(index)
        }
    }

    private func slot(_ fh: UInt64, kind: Kind) throws(FuseErrno) -> Int {
        let index = fh & 0xFFFF_FFFF
        guard index < UInt64(capacity) else { throw .badHandle }
        let slot = slots[Int(index)]
        guard slot.fd >= 0, UInt64(slot.generation) == fh >> 32, slot.kind == kind else { throw .badHandle }
        return Int(index)
    }
}
