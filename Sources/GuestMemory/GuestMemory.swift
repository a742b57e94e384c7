#if canImport(Glibc)
import Glibc
#endif

/// Guest RAM: a few non-overlapping regions, each an anonymous private mapping.
///
/// Every accessor checks that the whole range lies inside one region (with overflow-safe
/// arithmetic) before touching host memory; an access that fails touches nothing.
/// Shared by the vCPU and device threads; races on guest memory are the guest's own business.
public final class GuestMemory: @unchecked Sendable {
    public let regions: [GuestRegion]
    private let ownsMappings: Bool
    /// Set by `startDeviceWriteLog` for a VM that takes Diff snapshots.
    public internal(set) var deviceWriteLog: DeviceWriteLog?

    /// Maps `layout` (start, size) as anonymous, zero-filled, lazily backed memory, each region
    /// placed so that host and guest addresses agree modulo 2 MiB (see `hugePageSize`).
    public init(layout: [(start: GuestAddress, size: UInt64)]) throws(GuestMemoryError) {
        try Self.validate(layout)
        var mapped: [GuestRegion] = []
        for (start, size) in layout {
            guard let size = Int(exactly: size), let pointer = Self.mapRegion(size: size, guestStart: start) else {
                let err = errno
                for region in mapped { munmap(region.host, Int(region.size)) }
                throw .mapFailed(size: size, errno: err)
            }
            mapped.append(GuestRegion(start: start, size: UInt64(size), host: pointer))
        }
        regions = mapped
        ownsMappings = true
    }

    /// Maps `layout` from `file` (a snapshot's memory file: the regions one after another, from
    /// offset 0) copy-on-write: pages are read from the file on first touch, clones of one file
    /// share them until the guest writes, and the file is never changed. The file must hold
    /// every region; the descriptor may be closed afterwards.
    public init(layout: [(start: GuestAddress, size: UInt64)], file: Int32) throws(GuestMemoryError) {
        try Self.validate(layout)
        var info = stat()
        guard fstat(file, &info) == 0 else { throw .mapFailed(size: 0, errno: errno) }
        let needed = layout.reduce(UInt64(0)) { $0 &+ $1.size }
        guard info.st_size >= 0, UInt64(info.st_size) >= needed else {
            throw .invalidLayout("the memory file has \(info.st_size) bytes, the guest needs \(needed)")
        }
        var mapped: [GuestRegion] = []
        var offset: UInt64 = 0
        for (start, size) in layout {
            guard let length = Int(exactly: size), let fileOffset = off_t(exactly: offset),
                  let pointer = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, file, fileOffset),
                  pointer != MAP_FAILED
            else {
                let err = errno
                for region in mapped { munmap(region.host, Int(region.size)) }
                throw .mapFailed(size: size, errno: err)
            }
            mapped.append(GuestRegion(start: start, size: size, host: pointer))
            offset += size
        }
        regions = mapped
        ownsMappings = true
    }

    /// KVM maps guest memory with 2 MiB EPT/NPT entries only where the host page is a
    /// transparent huge page and host and guest addresses agree modulo 2 MiB; otherwise every
    /// 4 KiB the guest touches first costs an exit (an EPT violation) and a TLB entry. A plain
    /// mmap is only page-aligned, so guest RAM got 4 KiB mappings: in the nested harness a
    /// buffered read of a 64 MiB disk (16,384 fresh page-cache pages) took kiln twice QEMU's
    /// time, which aligns its RAM to 2 MiB and marks it MADV_HUGEPAGE (as Cloud Hypervisor
    /// does by default). The cost: the host backs guest RAM in 2 MiB steps where THP is on.
    static let hugePageSize = 2 << 20

    /// An anonymous mapping of `size` bytes whose address is congruent to `guestStart` modulo
    /// 2 MiB: `size` + 4 MiB reserved, the unused head and tail unmapped; marked MADV_HUGEPAGE
    /// above guest address 2 MiB (ignored where THP is off). Nil with errno set if mmap fails.
    private static func mapRegion(size: Int, guestStart: GuestAddress) -> UnsafeMutableRawPointer? {
        let huge = hugePageSize
        guard size <= Int.max - 2 * huge,
              let raw = mmap(nil, size + 2 * huge, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              raw != MAP_FAILED
        else { return nil }
        let base = UInt(bitPattern: raw)
        let phase = UInt(guestStart.rawValue % UInt64(huge))
        let aligned = (base + UInt(huge) - 1) / UInt(huge) * UInt(huge) + phase  // < base + 2 * huge
        let head = Int(aligned - base), tail = 2 * huge - head
        if head > 0 { munmap(raw, head) }
        if tail > 0 { munmap(raw + head + size, tail) }
        let pointer = raw + head
        // Not the first 2 MiB of guest RAM: the VMM writes the boot tables and a small kernel
        // there before the guest runs, and a huge page's first touch zeroes 2 MiB (~0.2 ms here)
        // or, with `defrag=madvise`, stalls in direct compaction (13-46 ms seen on this host):
        // on the start-up path, for a range the guest keeps nothing hot in.
        let lowSkip = guestStart.rawValue < UInt64(huge) ? min(size, huge - Int(guestStart.rawValue)) : 0
        if size > lowSkip { _ = madvise(pointer + lowSkip, size - lowSkip, MADV_HUGEPAGE) }
        return pointer
    }

    deinit {
        guard ownsMappings else { return }
        for region in regions { munmap(region.host, Int(region.size)) }
    }

    private static func validate(_ layout: [(start: GuestAddress, size: UInt64)]) throws(GuestMemoryError) {
        guard !layout.isEmpty else { throw .invalidLayout("no regions") }
        var previousEnd: UInt64 = 0
        for (index, (start, size)) in layout.enumerated() {
            guard size > 0 else { throw .invalidLayout("region \(index) is empty") }
            guard start.adding(size) != nil else { throw .invalidLayout("region \(index) wraps") }
            guard index == 0 || start.rawValue >= previousEnd else {
                throw .invalidLayout("region \(index) overlaps or is out of order")
            }
            previousEnd = start.rawValue + size
        }
    }

    /// Total bytes of RAM.
    public var totalSize: UInt64 { regions.reduce(0) { $0 + $1.size } }

    /// The last RAM address + 1 of the highest region.
    public var endAddress: GuestAddress { GuestAddress(regions.last!.end) }

    /// Host pointer for `[address, address+length)`, which must lie inside one region.
    @inlinable @inline(__always)
    public func hostPointer(at address: GuestAddress, length: UInt64) throws(GuestMemoryError) -> UnsafeMutableRawPointer {
        for region in regions {
            if let pointer = region.hostPointer(for: address, length: length) { return pointer }
        }
        throw .outOfRange(address: address.rawValue, length: length)
    }

    /// A host view of `[address, address+count)`; valid as long as this `GuestMemory` lives.
    @inlinable
    public func slice(at address: GuestAddress, count: Int) throws(GuestMemoryError) -> UnsafeMutableRawBufferPointer {
        guard count >= 0 else { throw .outOfRange(address: address.rawValue, length: UInt64(bitPattern: Int64(count))) }
        let pointer = try hostPointer(at: address, length: UInt64(count))
        return UnsafeMutableRawBufferPointer(start: pointer, count: count)
    }

    /// True when the whole range is guest RAM.
    @inlinable
    public func contains(_ address: GuestAddress, length: UInt64) -> Bool {
        regions.contains { $0.hostPointer(for: address, length: length) != nil }
    }

    @inlinable
    public func read(into buffer: UnsafeMutableRawBufferPointer, from address: GuestAddress) throws(GuestMemoryError) {
        guard let destination = buffer.baseAddress, buffer.count > 0 else { return }
        let source = try hostPointer(at: address, length: UInt64(buffer.count))
        destination.copyMemory(from: source, byteCount: buffer.count)
    }

    @inlinable
    public func write(_ bytes: UnsafeRawBufferPointer, to address: GuestAddress) throws(GuestMemoryError) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        let destination = try hostPointer(at: address, length: UInt64(bytes.count))
        destination.copyMemory(from: source, byteCount: bytes.count)
    }

    public func write(_ bytes: [UInt8], to address: GuestAddress) throws(GuestMemoryError) {
        guard !bytes.isEmpty else { return }
        let destination = try hostPointer(at: address, length: UInt64(bytes.count))
        bytes.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    public func readBytes(at address: GuestAddress, count: Int) throws(GuestMemoryError) -> [UInt8] {
        let view = try slice(at: address, count: count)
        return Array(view)
    }

    /// Little-endian integer at `address` (x86 guests are little-endian; no alignment required).
    @inlinable @inline(__always)
    public func read<T: FixedWidthInteger>(_ type: T.Type = T.self, at address: GuestAddress) throws(GuestMemoryError) -> T {
        let pointer = try hostPointer(at: address, length: UInt64(MemoryLayout<T>.size))
        return T(littleEndian: pointer.loadUnaligned(as: T.self))
    }

    @inlinable @inline(__always)
    public func write<T: FixedWidthInteger>(_ value: T, at address: GuestAddress) throws(GuestMemoryError) {
        let pointer = try hostPointer(at: address, length: UInt64(MemoryLayout<T>.size))
        pointer.storeBytes(of: value.littleEndian, as: T.self)
    }

    /// Fills `[address, address+count)` with zero bytes.
    public func zero(at address: GuestAddress, count: Int) throws(GuestMemoryError) {
        let view = try slice(at: address, count: count)
        if let base = view.baseAddress { memset(base, 0, count) }
    }
}
