/// Appends device state as little-endian bytes: the deterministic encoding a snapshot's
/// device section is made of (the same state always gives the same bytes, whatever the host).
///
/// No Foundation and no Codable: each state type writes its fields in a fixed order, and
/// `StateReader` reads them back in that order, checking each. Not a hot path: it allocates.
public struct StateWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    /// One byte, 0 or 1 (a reader refuses anything else).
    public mutating func write(_ value: Bool) {
        write(UInt8(value ? 1 : 0))
    }

    /// A count of what follows, as a u32. Counts come from the device's own bounded
    /// structures (queues of at most 32768, FIFOs of 64), so they always fit.
    public mutating func writeCount(_ count: Int) {
        precondition(count >= 0 && count <= Int(UInt32.max), "state count out of range")
        write(UInt32(count))
    }

    /// `values` with their count in front.
    public mutating func write(bytes values: [UInt8]) {
        writeCount(values.count)
        bytes += values
    }

    /// A UTF-8 string with its byte count in front.
    public mutating func write(_ string: String) {
        write(bytes: Array(string.utf8))
    }

    /// An optional as a presence byte, then the value if present.
    public mutating func writeOptional<T>(_ value: T?, _ body: (inout StateWriter, T) -> Void) {
        write(value != nil)
        if let value { body(&self, value) }
    }
}
