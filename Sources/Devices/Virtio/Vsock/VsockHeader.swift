/// `struct virtio_vsock_hdr` (virtio 1.x 5.10.6): 44 bytes, packed, little-endian, in front of
/// every packet on the RX and TX queues.
public struct VsockHeader: Equatable, Sendable {
    public static let size = 44

    /// The host's CID: every packet the guest sends must be addressed to it.
    public static let hostCID: UInt64 = 2

    public enum Op: UInt16, Sendable {
        case invalid = 0
        case request = 1
        case response = 2
        case rst = 3
        case shutdown = 4
        case rw = 5
        case creditUpdate = 6
        case creditRequest = 7
    }

    /// `type`: Kiln implements streams only, as Firecracker does.
    public static let typeStream: UInt16 = 1
    public static let typeSeqpacket: UInt16 = 2

    /// SHUTDOWN flags: the sender will receive no more / send no more.
    public static let shutdownReceive: UInt32 = 1
    public static let shutdownSend: UInt32 = 2
    public static let shutdownBoth: UInt32 = shutdownReceive | shutdownSend

    public var sourceCID: UInt64 = 0
    public var destinationCID: UInt64 = 0
    public var sourcePort: UInt32 = 0
    public var destinationPort: UInt32 = 0
    public var length: UInt32 = 0
    public var type: UInt16 = typeStream
    public var op: UInt16 = 0
    public var flags: UInt32 = 0
    public var bufferAllocation: UInt32 = 0
    public var forwardCount: UInt32 = 0

    public init() {}

    public init(sourceCID: UInt64, destinationCID: UInt64, sourcePort: UInt32, destinationPort: UInt32,
                length: UInt32 = 0, type: UInt16 = typeStream, op: Op, flags: UInt32 = 0,
                bufferAllocation: UInt32 = 0, forwardCount: UInt32 = 0) {
        self.sourceCID = sourceCID
        self.destinationCID = destinationCID
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.length = length
        self.type = type
        self.op = op.rawValue
        self.flags = flags
        self.bufferAllocation = bufferAllocation
        self.forwardCount = forwardCount
    }

    /// Decodes 44 bytes (any alignment).
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= Self.size)
        sourceCID = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        destinationCID = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        sourcePort = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        destinationPort = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        length = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
        type = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 28, as: UInt16.self))
        op = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 30, as: UInt16.self))
        flags = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 32, as: UInt32.self))
        bufferAllocation = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 36, as: UInt32.self))
        forwardCount = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 40, as: UInt32.self))
    }

    /// Encodes into the first 44 bytes of `bytes`.
    public func store(to bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= Self.size)
        bytes.storeBytes(of: sourceCID.littleEndian, toByteOffset: 0, as: UInt64.self)
        bytes.storeBytes(of: destinationCID.littleEndian, toByteOffset: 8, as: UInt64.self)
        bytes.storeBytes(of: sourcePort.littleEndian, toByteOffset: 16, as: UInt32.self)
        bytes.storeBytes(of: destinationPort.littleEndian, toByteOffset: 20, as: UInt32.self)
        bytes.storeBytes(of: length.littleEndian, toByteOffset: 24, as: UInt32.self)
        bytes.storeBytes(of: type.littleEndian, toByteOffset: 28, as: UInt16.self)
        bytes.storeBytes(of: op.littleEndian, toByteOffset: 30, as: UInt16.self)
        bytes.storeBytes(of: flags.littleEndian, toByteOffset: 32, as: UInt32.self)
        bytes.storeBytes(of: bufferAllocation.littleEndian, toByteOffset: 36, as: UInt32.self)
        bytes.storeBytes(of: forwardCount.littleEndian, toByteOffset: 40, as: UInt32.self)
    }

    public var knownOp: Op? { Op(rawValue: op) }
}
