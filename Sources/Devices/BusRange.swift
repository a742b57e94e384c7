/// A window `[base, last]` of a bus. Stored inclusive so that a window ending at the very top
/// of the 64-bit space is expressible.
public struct BusRange: Hashable, Sendable, CustomStringConvertible {
    public let base: UInt64
    public let last: UInt64

    /// Nil if `length` is zero or the window would wrap past 2^64.
    public init?(base: UInt64, length: UInt64) {
        guard length > 0 else { return nil }
        let (last, overflow) = base.addingReportingOverflow(length - 1)
        guard !overflow else { return nil }
        self.base = base
        self.last = last
    }

    public var length: UInt64 { last - base + 1 }

    public func contains(_ address: UInt64) -> Bool { address >= base && address <= last }

    public func overlaps(_ other: BusRange) -> Bool { base <= other.last && other.base <= last }

    public var description: String {
        "[0x\(String(base, radix: 16)), 0x\(String(last, radix: 16))]"
    }
}

/// Which address space a bus decodes; port I/O is 16 bits wide on x86.
public enum BusAddressSpace: Sendable, CustomStringConvertible {
    case portIO
    case mmio

    public var lastAddress: UInt64 {
        switch self {
        case .portIO: 0xFFFF
        case .mmio: .max
        }
    }

    public var description: String {
        switch self {
        case .portIO: "port I/O"
        case .mmio: "MMIO"
        }
    }
}
