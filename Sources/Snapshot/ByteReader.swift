/// Bounds-checked little-endian decoder over an untrusted byte array: every read checks the
/// remaining length first, every count is checked against a limit before anything is
/// allocated for it, and nothing traps on bad input.
public struct ByteReader: Sendable {
    private let bytes: [UInt8]
    private let end: Int
    public private(set) var position: Int
    /// Names what is being decoded, for error messages.
    private let context: String

    public init(_ bytes: [UInt8], context: String) {
        self.bytes = bytes
        self.end = bytes.count
        self.position = 0
        self.context = context
    }

    public var remaining: Int { end - position }

    public mutating func u8(_ what: String) throws(SnapshotError) -> UInt8 { try integer(what) }
    public mutating func u16(_ what: String) throws(SnapshotError) -> UInt16 { try integer(what) }
    public mutating func u32(_ what: String) throws(SnapshotError) -> UInt32 { try integer(what) }
    public mutating func u64(_ what: String) throws(SnapshotError) -> UInt64 { try integer(what) }

    /// 0 or 1; anything else is malformed.
    public mutating func bool(_ what: String) throws(SnapshotError) -> Bool {
        switch try u8(what) {
        case 0: return false
        case 1: return true
        case let other: throw .malformed("\(context): \(what) flag is \(other)")
        }
    }

    public mutating func raw(_ count: Int, _ what: String) throws(SnapshotError) -> [UInt8] {
        try need(count, what)
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    /// u32 length (at most `limit`), then the bytes.
    public mutating func blob(_ what: String, limit: Int) throws(SnapshotError) -> [UInt8] {
        let length = try count(what, limit: limit, elementSize: 1)
        return try raw(length, what)
    }

    /// A u32 count checked against `limit`, and, with `elementSize`, against the bytes left
    /// (so a hostile count cannot make the caller reserve memory the data cannot fill).
    public mutating func count(_ what: String, limit: Int, elementSize: Int = 0) throws(SnapshotError) -> Int {
        let value = try u32("\(what) count")
        guard UInt64(value) <= UInt64(limit) else {
            throw .tooLarge(what: "\(context): \(what) count", size: UInt64(value), limit: UInt64(limit))
        }
        let (bytes, overflow) = UInt64(value).multipliedReportingOverflow(by: UInt64(max(elementSize, 0)))
        guard !overflow, bytes <= UInt64(remaining) else {
            throw .truncated(what: "\(context): \(value) \(what)", needed: bytes, available: UInt64(remaining))
        }
        return Int(value)
    }

    /// A kernel ABI structure written by `ByteWriter.structure`: the recorded size must be
    /// exactly this build's size of `T` (a different size is a different ABI, not data to guess at).
    public mutating func structure<T>(_ type: T.Type, zero: T, _ what: String) throws(SnapshotError) -> T {
        let size = try u32("\(what) size")
        guard Int(size) == MemoryLayout<T>.size else {
            throw .malformed("\(context): \(what) is \(size) bytes, expected \(MemoryLayout<T>.size)")
        }
        try need(Int(size), what)
        var value = zero
        withUnsafeMutableBytes(of: &value) { destination in
            bytes.withUnsafeBytes { source in
                destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[position..<(position + Int(size))]))
            }
        }
        position += Int(size)
        return value
    }

    public mutating func string(_ what: String, limit: Int) throws(SnapshotError) -> String {
        let data = try blob(what, limit: limit)
        guard let text = String(validating: data, as: UTF8.self) else { throw .malformed("\(context): \(what) is not UTF-8") }
        return text
    }

    /// Every byte must have been consumed: trailing data means a different layout.
    public func finish() throws(SnapshotError) {
        guard remaining == 0 else { throw .malformed("\(context): \(remaining) unexpected trailing bytes") }
    }

    private mutating func need(_ count: Int, _ what: String) throws(SnapshotError) {
        guard count >= 0, count <= remaining else {
            throw .truncated(what: "\(context): \(what)", needed: UInt64(max(count, 0)), available: UInt64(remaining))
        }
    }

    private mutating func integer<T: FixedWidthInteger>(_ what: String) throws(SnapshotError) -> T {
        let size = MemoryLayout<T>.size
        try need(size, what)
        var value: T = 0
        for offset in 0..<size { value |= T(bytes[position + offset]) << (8 * offset) }
        position += size
        return value
    }
}
