/// Consumes a fuzz input as typed values; past the end every value is zero, so a target never
/// has to check lengths and libFuzzer's truncations stay meaningful.
struct FuzzInput {
    private let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isEmpty: Bool { offset >= bytes.count }
    var remaining: Int { max(bytes.count - offset, 0) }

    mutating func integer<T: FixedWidthInteger>(_ type: T.Type = T.self) -> T {
        var value: T = 0
        for shift in stride(from: 0, to: T.bitWidth, by: 8) {
            value |= T(truncatingIfNeeded: byte()) << shift
        }
        return value
    }

    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bool() -> Bool { byte() & 1 == 1 }

    /// A value in 0..<bound (bound > 0).
    mutating func below(_ bound: Int) -> Int { Int(integer(UInt16.self)) % bound }

    /// Up to `limit` bytes, the count taken from the input first.
    mutating func bytes(upTo limit: Int) -> [UInt8] {
        let count = min(below(limit + 1), remaining)
        return take(count)
    }

    mutating func take(_ count: Int) -> [UInt8] {
        let count = min(count, remaining)
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    /// Everything not consumed yet.
    mutating func rest() -> [UInt8] { take(remaining) }
}

/// Little-endian encoding for building seeds and structured requests.
extension Array where Element == UInt8 {
    mutating func append<T: FixedWidthInteger>(le value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
