/// Why a guest-memory operation failed. An access is never performed partially.
public enum GuestMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `[address, address+length)` is not wholly inside one RAM region (or wraps).
    case outOfRange(address: UInt64, length: UInt64)
    /// Regions given to `GuestMemory` overlap, are empty or wrap the address space.
    case invalidLayout(String)
    /// `mmap` of guest RAM failed.
    case mapFailed(size: UInt64, errno: Int32)

    public var description: String {
        switch self {
        case let .outOfRange(address, length):
            "guest access of \(length) bytes at 0x\(String(address, radix: 16)) is outside guest RAM"
        case let .invalidLayout(why):
            "invalid guest memory layout: \(why)"
        case let .mapFailed(size, errno):
            "mmap of \(size) bytes of guest RAM failed (errno \(errno))"
        }
    }
}
