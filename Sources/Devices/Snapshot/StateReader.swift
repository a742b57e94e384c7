/// Reads what `StateWriter` wrote, treating the bytes as hostile: a snapshot file may be
/// truncated, corrupted or crafted. Every read is bounds-checked, every count is checked
/// against a limit the caller gives before anything is allocated for it, booleans must be
/// 0 or 1, and a read past the end throws `.truncated` naming the field: nothing here traps.
public struct StateReader {
    private let bytes: [UInt8]
    private var position = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Bytes not read yet.
    public var remaining: Int { bytes.count - position }

    public mutating func read<T: FixedWidthInteger>(_ type: T.Type = T.self, _ field: String) throws(SnapshotStateError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated(field: field) }
        var value = T.zero
        for index in 0..<size {
            value |= T(truncatingIfNeeded: bytes[position + index]) << (8 * index)
        }
        position += size
        return value
    }

    public mutating func readBool(_ field: String) throws(SnapshotStateError) -> Bool {
        let byte = try read(UInt8.self, field)
        guard byte <= 1 else { throw .invalidValue(field: field, value: UInt64(byte)) }
        return byte == 1
    }

    /// A count written by `writeCount`, refused above `limit` (before anything is allocated).
    public mutating func readCount(_ field: String, limit: Int) throws(SnapshotStateError) -> Int {
        let count = try read(UInt32.self, field)
        guard UInt64(count) <= UInt64(max(limit, 0)) else {
            throw .tooMany(field: field, count: UInt64(count), limit: UInt64(max(limit, 0)))
        }
        return Int(count)
    }

    /// Bytes written by `write(bytes:)`, at most `limit` of them.
    public mutating func readBytes(_ field: String, limit: Int) throws(SnapshotStateError) -> [UInt8] {
        let count = try readCount(field, limit: limit)
        guard remaining >= count else { throw .truncated(field: field) }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    /// A string written by `write(_: String)`, at most `limit` bytes of valid UTF-8.
    public mutating func readString(_ field: String, limit: Int) throws(SnapshotStateError) -> String {
        let utf8 = try readBytes(field, limit: limit)
        guard let string = String(validating: utf8, as: UTF8.self) else {
            throw .invalidValue(field: field, value: UInt64(utf8.count))
        }
        return string
    }

    /// An optional written by `writeOptional`.
    public mutating func readOptional<T>(_ field: String,
                                         _ body: (inout StateReader) throws(SnapshotStateError) -> T)
        throws(SnapshotStateError) -> T? {
        guard try readBool(field) else { return nil }
        return try body(&self)
    }

    /// Ends a decode: bytes left over mean the encoding is not what the reader expects.
    public func finish() throws(SnapshotStateError) {
        guard remaining == 0 else { throw .trailingBytes(remaining) }
    }
}

/// A state value with a deterministic binary encoding.
public protocol StateCodable {
    func encode(to writer: inout StateWriter)
    /// Decodes and checks what can be checked without a device (ranges, counts, invariants);
    /// whether the state fits a particular device is the device's restore to decide.
    init(from reader: inout StateReader) throws(SnapshotStateError)
}

extension StateCodable {
    /// The encoding alone.
    public var encoded: [UInt8] {
        var writer = StateWriter()
        encode(to: &writer)
        return writer.bytes
    }

    /// Decodes exactly `bytes`: trailing bytes are an error too.
    public init(decoding bytes: [UInt8]) throws(SnapshotStateError) {
        var reader = StateReader(bytes)
        self = try Self(from: &reader)
        try reader.finish()
    }
}
