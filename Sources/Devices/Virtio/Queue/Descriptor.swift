import GuestMemory

/// One buffer of a descriptor chain, as handed to a device: already checked to lie wholly
/// inside guest RAM (see `DescriptorChain`). A copy of what the guest wrote, so a guest that
/// rewrites the table afterwards cannot change what the device already validated.
public struct Descriptor: Sendable, Equatable {
    /// `struct virtq_desc`: addr (le64), len (le32), flags (le16), next (le16).
    public static let size: UInt64 = 16

    public static let flagNext: UInt16 = 1
    public static let flagWrite: UInt16 = 2
    public static let flagIndirect: UInt16 = 4

    public let address: GuestAddress
    public let length: UInt32
    public let flags: UInt16

    public init(address: GuestAddress, length: UInt32, flags: UInt16) {
        self.address = address
        self.length = length
        self.flags = flags
    }

    /// The device may write this buffer (VIRTQ_DESC_F_WRITE); otherwise it may only read it.
    public var isDeviceWritable: Bool { flags & Self.flagWrite != 0 }
}
