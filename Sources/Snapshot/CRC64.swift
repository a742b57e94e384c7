/// CRC-64/XZ: the ECMA-182 polynomial 0x42F0E1EBA9EA3693, bit-reflected (0xC96C5795D7870F42),
/// initial value and final XOR all ones; check value of "123456789" is 0x995DC9BBDF1939FA.
/// (Firecracker uses the Jones polynomial instead; Kiln's files are its own format, and this
/// variant is the one xz, Go's crc64.ECMA and most tools can verify independently.)
public struct CRC64: Sendable {
    private static let table: [UInt64] = (0..<256).map { (byte: UInt64) -> UInt64 in
        var crc = byte
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xC96C_5795_D787_0F42 : crc >> 1 }
        return crc
    }

    private var state: UInt64 = ~0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var crc = state
        Self.table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int(UInt8(truncatingIfNeeded: crc) ^ byte)] ^ (crc >> 8) }
        }
        state = crc
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        var crc = state
        Self.table.withUnsafeBufferPointer { table in
            for byte in bytes { crc = table[Int(UInt8(truncatingIfNeeded: crc) ^ byte)] ^ (crc >> 8) }
        }
        state = crc
    }

    public var value: UInt64 { ~state }

    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var crc = CRC64()
        crc.update(bytes)
        return crc.value
    }
}
