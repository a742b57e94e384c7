import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// One bit per 4 KiB page of a memory range, bit `i` of word `i / 64` for page `i`: the layout
/// KVM_GET_DIRTY_LOG fills on x86_64. Also how the VMM marks pages it wrote itself (device
/// emulation writes guest memory from user space, which KVM's log never sees).
public struct DirtyBitmap: Sendable, Equatable {
    public static let pageSize: UInt64 = 4096
    public let pageCount: Int
    public private(set) var words: [UInt64]

    public init(pageCount: Int) {
        self.pageCount = max(0, pageCount)
        words = [UInt64](repeating: 0, count: (self.pageCount + 63) / 64)
    }

    /// A bitmap covering `size` bytes (rounded up to whole pages).
    public init(coveringBytes size: UInt64) {
        self.init(pageCount: Int(clamping: size / Self.pageSize + (size % Self.pageSize == 0 ? 0 : 1)))
    }

    /// From raw words (e.g. decoded from a file); bits past `pageCount` are cleared.
    public init(pageCount: Int, words: [UInt64]) {
        self.init(pageCount: pageCount)
        for index in 0..<min(words.count, self.words.count) { self.words[index] = words[index] }
        clearTail()
    }

    public func isDirty(page: Int) -> Bool {
        guard page >= 0, page < pageCount else { return false }
        return words[page / 64] & (1 << UInt64(page % 64)) != 0
    }

    public mutating func markDirty(page: Int) {
        guard page >= 0, page < pageCount else { return }
        words[page / 64] |= 1 << UInt64(page % 64)
    }

    /// Marks every page touched by `[offset, offset + length)` (bytes from the range's start);
    /// the part outside the range is ignored.
    public mutating func markDirty(offset: UInt64, length: UInt64) {
        guard length > 0 else { return }
        let first = offset / Self.pageSize
        let (end, overflow) = offset.addingReportingOverflow(length - 1)
        let last = min(overflow ? UInt64.max : end / Self.pageSize, UInt64(max(pageCount, 1) - 1))
        guard first < UInt64(pageCount) else { return }
        for page in first...last { markDirty(page: Int(page)) }
    }

    public mutating func formUnion(_ other: DirtyBitmap) {
        for index in 0..<min(words.count, other.words.count) { words[index] |= other.words[index] }
    }

    public var dirtyPageCount: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Indices of dirty pages, ascending.
    public var dirtyPages: [Int] {
        var pages: [Int] = []
        for (index, word) in words.enumerated() where word != 0 {
            var bits = word
            while bits != 0 {
                pages.append(index * 64 + bits.trailingZeroBitCount)
                bits &= bits - 1
            }
        }
        return pages
    }

    private mutating func clearTail() {
        let used = pageCount % 64
        if used != 0, !words.isEmpty { words[words.count - 1] &= (1 << UInt64(used)) - 1 }
    }
}

extension VirtualMachine {
    /// KVM_GET_DIRTY_LOG for a slot registered with `logDirtyPages`: the pages the guest wrote
    /// since the previous call (KVM clears the log as it reports it). `size` is the slot's size.
    public func dirtyLog(slot: UInt32, size: UInt64) throws(KVMError) -> DirtyBitmap {
        var bitmap = DirtyBitmap(coveringBytes: size)
        // KVM writes whole 64-bit words; the bitmap holds exactly that many.
        var words = bitmap.words
        guard !words.isEmpty else { return bitmap }
        _ = try check("KVM_GET_DIRTY_LOG slot \(slot)") {
            words.withUnsafeMutableBufferPointer { kiln_get_dirty_log(descriptor.raw, slot, $0.baseAddress) }
        }
        bitmap = DirtyBitmap(pageCount: bitmap.pageCount, words: words)
        return bitmap
    }
}
