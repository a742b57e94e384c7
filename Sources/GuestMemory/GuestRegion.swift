/// One contiguous range of guest RAM backed by host memory.
public struct GuestRegion: Sendable {
    public let start: GuestAddress
    public let size: UInt64
    /// Host address of `start`. Shared with the guest: its content may change at any time.
    public nonisolated(unsafe) let host: UnsafeMutableRawPointer

    public init(start: GuestAddress, size: UInt64, host: UnsafeMutableRawPointer) {
        self.start = start
        self.size = size
        self.host = host
    }

    /// One past the last address, as a full 64-bit value (regions never end at 2^64 exactly).
    @inlinable public var end: UInt64 { start.rawValue + size }

    /// Host pointer for `[address, address+length)` if that range lies wholly inside this region.
    @inlinable @inline(__always)
    public func hostPointer(for address: GuestAddress, length: UInt64) -> UnsafeMutableRawPointer? {
        guard let offset = address.offset(from: start), offset <= size, length <= size - offset else {
            return nil
        }
        return host + Int(offset)
    }
}
