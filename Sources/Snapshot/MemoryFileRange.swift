/// Where one range of guest memory lives in a memory file. Kiln lays ranges out back to back
/// in guest-address order (`contiguous`), as Firecracker does; a state file records the layout
/// so a restore can check the memory file against it before mapping anything.
public struct MemoryFileRange: Sendable, Equatable {
    public var guestAddress: UInt64
    public var size: UInt64
    public var fileOffset: UInt64

    public init(guestAddress: UInt64, size: UInt64, fileOffset: UInt64) {
        self.guestAddress = guestAddress
        self.size = size
        self.fileOffset = fileOffset
    }

    public static let pageSize: UInt64 = 4096
    /// 2^46 bytes (64 TiB): beyond any guest, small enough that page counts fit an Int.
    public static let maxSize: UInt64 = 1 << 46

    /// The layout of a full memory file for `ranges` (guest address, size) in the given order.
    public static func contiguous(_ ranges: [(guestAddress: UInt64, size: UInt64)]) -> [MemoryFileRange] {
        var offset: UInt64 = 0
        return ranges.map { range in
            defer { offset &+= range.size }
            return MemoryFileRange(guestAddress: range.guestAddress, size: range.size, fileOffset: offset)
        }
    }

    /// Bytes a memory file must have for `ranges`.
    public static func requiredFileSize(_ ranges: [MemoryFileRange]) -> UInt64 {
        ranges.map { $0.fileOffset &+ $0.size }.max() ?? 0
    }

    /// Checks a (possibly hostile) layout: page-aligned, non-empty, bounded, no overflow, no
    /// overlap in guest memory or in the file.
    public static func validate(_ ranges: [MemoryFileRange]) throws(SnapshotError) {
        guard !ranges.isEmpty else { throw .malformed("no guest memory ranges") }
        for (index, range) in ranges.enumerated() {
            guard range.size > 0, range.size <= maxSize, range.guestAddress <= UInt64.max - range.size,
                  range.fileOffset <= maxSize, range.guestAddress % pageSize == 0, range.size % pageSize == 0,
                  range.fileOffset % pageSize == 0
            else { throw .malformed("memory range \(index) (0x\(String(range.guestAddress, radix: 16)), \(range.size) bytes at file offset \(range.fileOffset)) is invalid") }
        }
        for (first, second) in pairs(ranges.sorted { $0.guestAddress < $1.guestAddress })
        where first.guestAddress + first.size > second.guestAddress {
            throw .malformed("memory ranges at 0x\(String(first.guestAddress, radix: 16)) and 0x\(String(second.guestAddress, radix: 16)) overlap")
        }
        for (first, second) in pairs(ranges.sorted { $0.fileOffset < $1.fileOffset })
        where first.fileOffset + first.size > second.fileOffset {
            throw .malformed("memory ranges overlap in the memory file at offset \(second.fileOffset)")
        }
    }

    private static func pairs(_ sorted: [MemoryFileRange]) -> Zip2Sequence<[MemoryFileRange], ArraySlice<MemoryFileRange>> {
        zip(sorted, sorted.dropFirst())
    }
}

/// A range of guest memory as the VMM has it mapped, to write into a memory file.
public struct HostMemoryRange: @unchecked Sendable {
    public var guestAddress: UInt64
    public var size: UInt64
    public var host: UnsafeMutableRawPointer

    public init(guestAddress: UInt64, size: UInt64, host: UnsafeMutableRawPointer) {
        self.guestAddress = guestAddress
        self.size = size
        self.host = host
    }
}
