/// Little-endian encoder for snapshot sections. x86_64 only, as the KVM structures are.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func u16(_ value: UInt16) { append(value.littleEndian) }
    public mutating func u32(_ value: UInt32) { append(value.littleEndian) }
    public mutating func u64(_ value: UInt64) { append(value.littleEndian) }
    public mutating func bool(_ value: Bool) { u8(value ? 1 : 0) }

    public mutating func raw(_ data: some Collection<UInt8>) { bytes.append(contentsOf: data) }

    /// u32 length, then the bytes.
    public mutating func blob(_ data: some Collection<UInt8>) {
        u32(UInt32(data.count))
        raw(data)
    }

    /// A kernel ABI structure: u32 size, then its bytes as they are in memory.
    public mutating func structure<T>(_ value: T) {
        u32(UInt32(MemoryLayout<T>.size))
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    public mutating func string(_ value: String) { blob(Array(value.utf8)) }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }
}
