/// Reads big-endian fields from one frame body. Every read checks the remaining length first;
/// running past the end throws `truncatedField` naming the field.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset: Int

    init(_ bytes: [UInt8], from offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func u8(_ field: String) throws(ProtocolError) -> UInt8 {
        guard remaining >= 1 else { throw .truncatedField(field) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u32(_ field: String) throws(ProtocolError) -> UInt32 {
        guard remaining >= 4 else { throw .truncatedField(field) }
        var value: UInt32 = 0
        for i in 0..<4 { value = value << 8 | UInt32(bytes[offset + i]) }
        offset += 4
        return value
    }

    mutating func u64(_ field: String) throws(ProtocolError) -> UInt64 {
        let high = try u32(field)
        let low = try u32(field)
        return UInt64(high) << 32 | UInt64(low)
    }

    /// A u32 length, then that many bytes.
    mutating func bytes(_ field: String) throws(ProtocolError) -> [UInt8] {
        let length = try u32(field)
        guard UInt64(length) <= UInt64(remaining) else { throw .truncatedField(field) }
        let n = Int(length)
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    /// Length-prefixed UTF-8 without NUL bytes (the text ends up in C strings).
    mutating func string(_ field: String) throws(ProtocolError) -> String {
        let raw = try bytes(field)
        guard !raw.contains(0) else { throw .invalidField("\(field) contains a NUL byte") }
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw .invalidField("\(field) is not UTF-8")
        }
        return text
    }

    /// A u32 count (at most `FrameLimits.maxListCount`), then that many strings.
    mutating func stringList(_ field: String) throws(ProtocolError) -> [String] {
        let count = try u32(field)
        guard count <= FrameLimits.maxListCount else {
            throw .invalidField("\(field) has \(count) entries (max \(FrameLimits.maxListCount))")
        }
        // Each entry needs at least its 4-byte length: a huge count cannot reserve memory.
        guard UInt64(count) * 4 <= UInt64(remaining) else { throw .truncatedField(field) }
        var list: [String] = []
        list.reserveCapacity(Int(count))
        for _ in 0..<count { list.append(try string(field)) }
        return list
    }

    /// Everything left in the frame (chunk payloads).
    mutating func rest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}

/// Appends big-endian fields to a frame being built.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 24))
        bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }
    mutating func u64(_ v: UInt64) {
        u32(UInt32(truncatingIfNeeded: v >> 32))
        u32(UInt32(truncatingIfNeeded: v))
    }
    mutating func bytes(_ b: some Collection<UInt8>) {
        // A count past u32 makes the frame too large; the encoder refuses it before sending.
        u32(UInt32(truncatingIfNeeded: b.count))
        bytes.append(contentsOf: b)
    }
    mutating func string(_ s: String) { bytes(Array(s.utf8)) }
    mutating func stringList(_ list: [String]) {
        u32(UInt32(truncatingIfNeeded: list.count))
        for s in list { string(s) }
    }
}
