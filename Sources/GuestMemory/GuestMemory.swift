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
                for region in mapped { Self.unmapRegion(region) }
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
                  let pointer = Self.mapFileRegion(size: length, file: file, offset: fileOffset)
            else {
                let err = errno
                for region in mapped { Self.unmapRegion(region) }
                throw .mapFailed(size: size, errno: err)
            }
            mapped.append(GuestRegion(start: start, size: size, host: pointer))
            offset += size
        }
        regions = mapped
        ownsMappings = true
    }

    deinit {
        guard ownsMappings else { return }
        for region in regions { Self.unmapRegion(region) }
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
