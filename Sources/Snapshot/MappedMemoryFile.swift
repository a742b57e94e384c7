#if canImport(Glibc)
import Glibc
#endif

/// Guest memory of a restore: the memory file mapped MAP_PRIVATE, one mapping per range.
/// Pages load on first touch and stay shared (page cache) between every VM restored from the
/// same file until the guest writes them; a write copies the page into this process only,
/// never into the file. Register `ranges` as KVM memory slots; unmapped when this goes away.
public final class MappedMemoryFile: @unchecked Sendable {
    public let ranges: [HostMemoryRange]

    /// Checks the file against `layout` (regular file, at least as large as the layout needs,
    /// with a clear error otherwise) before mapping anything.
    public init(path: String, layout: [MemoryFileRange]) throws(SnapshotError) {
        try MemoryFileRange.validate(layout)
        // Read-only is enough: a private mapping may be written even so, and the file cannot be.
        let file = try OpenFile.open(path, flags: O_RDONLY)
        let size = try file.size()
        let needed = MemoryFileRange.requiredFileSize(layout)
        guard size >= needed else { throw .memoryFileTooSmall(path: path, size: size, needed: needed) }
        var mapped: [HostMemoryRange] = []
        for range in layout {
            // validate() bounds sizes and offsets to 2^46: they fit Int and off_t.
            guard let host = mmap(nil, Int(range.size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE,
                                  file.raw, off_t(range.fileOffset)),
                  host != MAP_FAILED
            else {
                let code = errno
                for region in mapped { munmap(region.host, Int(region.size)) }
                throw .file(operation: "mmap", path: path, errno: code)
            }
            mapped.append(HostMemoryRange(guestAddress: range.guestAddress, size: range.size, host: host))
        }
        ranges = mapped
    }

    deinit {
        for range in ranges { munmap(range.host, Int(range.size)) }
    }

    /// Total bytes of guest memory mapped.
    public var totalSize: UInt64 { ranges.reduce(0) { $0 + $1.size } }
}
