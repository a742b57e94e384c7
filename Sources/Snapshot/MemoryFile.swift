import KVM
#if canImport(Glibc)
import Glibc
#endif

/// Guest memory to and from memory files. Writes go from the guest mapping straight to the
/// file with pwrite (no copy in the VMM's heap, so a snapshot never doubles the process's
/// memory); files are sparse, with the guest's all-zero pages left as holes.
public enum MemoryFile {
    /// One pwrite covers at most this much, so a huge run does not pin the writer for long.
    static let maxWrite = 64 << 20
    static let pageSize = Int(MemoryFileRange.pageSize)

    /// Creates (or truncates) `path` and writes all of `ranges` into it at the offsets of
    /// `MemoryFileRange.contiguous`, which it returns for the state file.
    public static func writeFull(_ ranges: [HostMemoryRange], toPath path: String) throws(SnapshotError) -> [MemoryFileRange] {
        let file = try OpenFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        return try writeFull(ranges, to: file.raw, path: path)
    }

    /// As `writeFull(_:toPath:)` on a descriptor the caller opened for writing (and owns).
    public static func writeFull(_ ranges: [HostMemoryRange], to fd: Int32, path: String) throws(SnapshotError) -> [MemoryFileRange] {
        let layout = try prepare(ranges, file: BorrowedFile(raw: fd, path: path))
        for (range, placement) in zip(ranges, layout) {
            // Runs of non-zero pages, each written with one pwrite from the mapping. Reading an
            // untouched anonymous page maps the shared zero page: the check costs no memory.
            try forEachRun(pages: Int(range.size) / pageSize, maxPages: maxWrite / pageSize,
                           include: { !isZeroPage(range.host + $0 * pageSize) }) { (first, count) throws(SnapshotError) in
                try BorrowedFile(raw: fd, path: path).write(
                    UnsafeRawBufferPointer(start: range.host + first * pageSize, count: count * pageSize),
                    at: placement.fileOffset + UInt64(first * pageSize))
            }
        }
        return layout
    }

    /// A diff memory file: only the pages set in `dirty` (one bitmap per range, e.g. KVM's
    /// dirty log joined with the VMM's own writes), at the same offsets as a full file; the
    /// rest are holes. Zero pages are written too: a page the guest cleared must clear the base.
    public static func writeDiff(_ ranges: [HostMemoryRange], dirty: [DirtyBitmap], toPath path: String) throws(SnapshotError) -> [MemoryFileRange] {
        guard dirty.count == ranges.count else { throw .malformed("\(dirty.count) dirty bitmaps for \(ranges.count) memory ranges") }
        let file = try OpenFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        let layout = try prepare(ranges, file: file.borrowed)
        for ((range, placement), bitmap) in zip(zip(ranges, layout), dirty) {
            guard bitmap.pageCount == Int(range.size) / pageSize else {
                throw .malformed("dirty bitmap of \(bitmap.pageCount) pages for a range of \(range.size) bytes")
            }
            try forEachRun(pages: bitmap.pageCount, maxPages: maxWrite / pageSize,
                           include: { bitmap.isDirty(page: $0) }) { (first, count) throws(SnapshotError) in
                try file.borrowed.write(UnsafeRawBufferPointer(start: range.host + first * pageSize, count: count * pageSize),
                                        at: placement.fileOffset + UInt64(first * pageSize))
            }
        }
        return layout
    }

    /// Copies the dirty pages of a diff memory file onto its base (both laid out by `layout`),
    /// so the base becomes the full memory of the diff's moment. Exact whatever the file system
    /// (the pages come from the diff's recorded bitmaps, not from hole detection).
    public static func merge(diffPath: String, ontoBasePath basePath: String, layout: [MemoryFileRange],
                             dirty: [DirtyBitmap]) throws(SnapshotError) {
        try MemoryFileRange.validate(layout)
        guard dirty.count == layout.count else { throw .malformed("\(dirty.count) dirty bitmaps for \(layout.count) memory ranges") }
        let needed = MemoryFileRange.requiredFileSize(layout)
        let diff = try OpenFile.open(diffPath, flags: O_RDONLY)
        let base = try OpenFile.open(basePath, flags: O_WRONLY)
        for file in [diff, base] {
            let size = try file.size()
            guard size >= needed else { throw .memoryFileTooSmall(path: file.path, size: size, needed: needed) }
        }
        let chunkPages = 256   // 1 MiB through one buffer
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkPages * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        for (range, bitmap) in zip(layout, dirty) {
            guard bitmap.pageCount == Int(range.size) / pageSize else { throw .malformed("dirty bitmap does not match its range") }
            try forEachRun(pages: bitmap.pageCount, maxPages: chunkPages, include: { bitmap.isDirty(page: $0) }) { (first, count) throws(SnapshotError) in
                let offset = range.fileOffset + UInt64(first * pageSize)
                let part = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(count * pageSize)])
                try diff.borrowed.read(into: part, at: offset)
                try base.borrowed.write(UnsafeRawBufferPointer(part), at: offset)
            }
        }
    }

    /// Sizes the file for the contiguous layout of `ranges` after emptying it, so every page
    /// not written reads back as zero (a hole).
    private static func prepare(_ ranges: [HostMemoryRange], file: BorrowedFile) throws(SnapshotError) -> [MemoryFileRange] {
        let layout = MemoryFileRange.contiguous(ranges.map { ($0.guestAddress, $0.size) })
        try MemoryFileRange.validate(layout)
        try file.truncate(0)
        try file.truncate(MemoryFileRange.requiredFileSize(layout))
        return layout
    }

    /// Calls `body(first, count)` for each maximal run (at most `maxPages` long) of pages
    /// `include` selects.
    static func forEachRun(pages: Int, maxPages: Int, include: (Int) -> Bool,
                           _ body: (Int, Int) throws(SnapshotError) -> Void) throws(SnapshotError) {
        var start: Int?
        for page in 0..<pages {
            if include(page) {
                if let first = start, page - first == maxPages {
                    try body(first, page - first)
                    start = page
                } else if start == nil {
                    start = page
                }
            } else if let first = start {
                try body(first, page - first)
                start = nil
            }
        }
        if let first = start { try body(first, pages - first) }
    }

    // Allocated once, never written after initialization, never freed.
    nonisolated(unsafe) private static let zeroPage: UnsafeMutableRawPointer = {
        let page = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        page.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        return page
    }()

    static func isZeroPage(_ page: UnsafeRawPointer) -> Bool { memcmp(page, zeroPage, pageSize) == 0 }
}
