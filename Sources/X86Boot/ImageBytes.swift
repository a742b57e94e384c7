/// Bounds-checked reads from a kernel image. The image is hostile: every offset and size in it
/// is checked with overflow-safe arithmetic before the bytes are touched.
struct ImageBytes {
    let buffer: UnsafeRawBufferPointer

    var size: UInt64 { UInt64(buffer.count) }

    /// Little-endian integer at `offset`; `what` names the field in the error.
    func read<T: FixedWidthInteger>(_: T.Type, at offset: UInt64, _ what: String) throws(BootError) -> T {
        let width = UInt64(MemoryLayout<T>.size)
        let (end, overflow) = offset.addingReportingOverflow(width)
        guard !overflow, end <= size else {
            throw .truncated(what: what, needed: overflow ? .max : end, available: size)
        }
        return T(littleEndian: buffer.loadUnaligned(fromByteOffset: Int(offset), as: T.self))
    }

    /// `[offset, offset+count)` of the image, or nil when it does not lie wholly inside.
    func bytes(at offset: UInt64, count: UInt64) -> UnsafeRawBufferPointer? {
        let (end, overflow) = offset.addingReportingOverflow(count)
        guard !overflow, end <= size else { return nil }
        return UnsafeRawBufferPointer(rebasing: buffer[Int(offset)..<Int(end)])
    }
}
