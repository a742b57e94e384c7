import GuestMemory

/// A buffer as the mock driver puts it in a descriptor. Any values may be used, including
/// addresses outside guest RAM and lengths that wrap, to build malformed chains.
public struct MockBuffer: Equatable, Sendable {
    public var address: GuestAddress
    public var length: UInt32
    public var deviceWritable: Bool

    public init(address: GuestAddress, length: UInt32, deviceWritable: Bool) {
        self.address = address
        self.length = length
        self.deviceWritable = deviceWritable
    }
}

/// One entry of the used ring.
public struct UsedElement: Equatable, Sendable, CustomStringConvertible {
    public var id: UInt32
    public var length: UInt32

    public init(id: UInt32, length: UInt32) {
        self.id = id
        self.length = length
    }

    public var description: String { "(id \(id), len \(length))" }
}
