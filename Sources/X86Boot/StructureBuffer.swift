/// A zero-filled little-endian byte buffer in which a guest structure (zero page, page table,
/// MP table) is assembled before it is written to guest memory in one checked access.
/// Offsets come from this module's own constants, never from an image.
struct StructureBuffer {
    private(set) var bytes: [UInt8]

    init(count: Int) { bytes = [UInt8](repeating: 0, count: count) }

    var count: Int { bytes.count }

    mutating func set<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for (i, byte) in raw.enumerated() { bytes[offset + i] = byte }
        }
    }

    mutating func set(bytes source: some Sequence<UInt8>, at offset: Int) {
        for (i, byte) in source.enumerated() { bytes[offset + i] = byte }
    }

    func get<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + i]) << (8 * i) }
        return value
    }

    /// The byte that makes `bytes[range]` sum to zero modulo 256 (MP spec checksums).
    func checksum(of range: Range<Int>) -> UInt8 {
        let sum = bytes[range].reduce(UInt8(0)) { $0 &+ $1 }
        return 0 &- sum
    }
}
