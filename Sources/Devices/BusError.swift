/// Why a device could not be placed on a bus. These are VMM configuration mistakes, never
/// guest input, so each names the offending ranges in full.
public enum BusError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A window of zero bytes would never be reachable.
    case emptyRange(base: UInt64)
    /// `base + length` is past 2^64.
    case wrapsAround(base: UInt64, length: UInt64)
    /// The window does not fit the bus's address space (e.g. a port above 0xFFFF).
    case outsideAddressSpace(BusRange, space: BusAddressSpace)
    /// The window shares at least one address with a device already on the bus.
    case overlap(new: BusRange, existing: BusRange)

    public var description: String {
        switch self {
        case let .emptyRange(base):
            "bus range at 0x\(String(base, radix: 16)) has zero length"
        case let .wrapsAround(base, length):
            "bus range of 0x\(String(length, radix: 16)) bytes at 0x\(String(base, radix: 16)) wraps past 2^64"
        case let .outsideAddressSpace(range, space):
            "bus range \(range) is outside the \(space) address space"
        case let .overlap(new, existing):
            "bus range \(new) overlaps \(existing)"
        }
    }
}
