/// A guest-physical address. Arithmetic on it is checked: an address that would wrap is `nil`.
///
/// Address and memory accessors are `@inlinable`: they run for every ring and descriptor access
/// of every device, and a cross-module generic call would run unspecialized (witness tables,
/// runtime metadata lookups) on those hot paths.
public struct GuestAddress: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// `self + offset`, or nil if that wraps past 2^64.
    @inlinable public func adding(_ offset: UInt64) -> GuestAddress? {
        let (sum, overflow) = rawValue.addingReportingOverflow(offset)
        return overflow ? nil : GuestAddress(sum)
    }

    /// Distance from `base` to `self`, or nil if `self` lies below `base`.
    @inlinable public func offset(from base: GuestAddress) -> UInt64? {
        rawValue >= base.rawValue ? rawValue - base.rawValue : nil
    }

    @inlinable public static func < (lhs: GuestAddress, rhs: GuestAddress) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
