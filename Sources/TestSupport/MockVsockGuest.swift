import Devices
import GuestMemory

/// Plays a guest's vsock driver (Linux's virtio_transport) over `MockVirtioDriver`: RX buffers
/// posted from a reused pool, packets sent from one reused TX area, packets read back from
/// the used ring. Everything is synchronous: a notify runs the device at once.
public final class MockVsockGuest {
    public struct Packet: Equatable, CustomStringConvertible {
        public var header: VsockHeader
        public var payload: [UInt8]
        public var op: VsockHeader.Op? { header.knownOp }
        public var description: String {
            "\(op.map { "\($0)" } ?? "op \(header.op)") \(header.sourcePort)->\(header.destinationPort) len \(header.length) flags \(header.flags)"
        }
    }

    public let driver: MockVirtioDriver
    public let rx: MockQueue
    public let tx: MockQueue
    public let event: MockQueue
    public let cid: UInt64
    /// What this guest advertises as its receive buffer (buf_alloc) on every packet.
    public var bufferAllocation: UInt32 = 256 * 1024
    /// Bytes consumed per (local port, peer port) — the guest's fwd_cnt — advanced by `receive`.
    public var forwardCounts: [UInt64: UInt32] = [:]
    public var autoForward = true

    private var postedRx: [UInt16: MockBuffer] = [:]
    private var freeRx: [MockBuffer] = []
    private let txArea: GuestAddress
    public static let txAreaSize = 128 * 1024

    public init(device: any VirtioDevice, cid: UInt64, memorySize: UInt64 = 8 << 20) {
        driver = MockVirtioDriver(device: device, memorySize: memorySize)
        self.cid = cid
        let queues = driver.start()
        rx = queues[0]
        tx = queues[1]
        event = queues[2]
        txArea = driver.allocate(Self.txAreaSize, alignment: 16)
    }

    // MARK: - RX

    /// Makes `count` more device-writable buffers of `size` bytes available and kicks RX.
    /// `splitHeader` posts each as two descriptors, header and payload, as Linux 6.1 does (here
    /// adjacent in memory, so `receive` reads the packet as one).
    public func postRxBuffers(_ count: Int, size: Int = VsockHeader.size + 4096, splitHeader: Bool = false,
                              notify: Bool = true) {
        for _ in 0..<count {
            let buffer = freeRx.popLast().flatMap { $0.length == UInt32(size) ? $0 : nil } ?? driver.writable(size)
            var chain = [buffer]
            if splitHeader && size > VsockHeader.size {
                let header = UInt32(VsockHeader.size)
                chain = [MockBuffer(address: buffer.address, length: header, deviceWritable: true),
                         MockBuffer(address: GuestAddress(buffer.address.rawValue + UInt64(header)),
                                    length: buffer.length - header, deviceWritable: true)]
            }
            postedRx[rx.submit(chain)] = buffer
        }
        if notify { rx.notify() }
    }

    /// Packets the device put on the RX queue since the last call. Their buffers return to the
    /// pool (re-posted when `repost`), and RW payloads count as consumed (fwd_cnt) when
    /// `autoForward`.
    public func receive(repost: Bool = true) -> [Packet] {
        var packets: [Packet] = []
        for used in rx.takeUsed() {
            guard let buffer = postedRx.removeValue(forKey: UInt16(used.id)) else { continue }
            freeRx.append(buffer)
            guard used.length >= UInt32(VsockHeader.size) else {
                packets.append(Packet(header: VsockHeader(), payload: []))
                continue
            }
            let bytes = try! driver.memory.readBytes(at: buffer.address, count: Int(used.length))
            let header = bytes.withUnsafeBytes { VsockHeader(bytes: $0) }
            let payload = Array(bytes[VsockHeader.size...])
            if autoForward && header.knownOp == .rw {
                forwardCounts[Self.key(header.destinationPort, header.sourcePort), default: 0] &+= UInt32(payload.count)
            }
            packets.append(Packet(header: header, payload: payload))
        }
        if repost && !packets.isEmpty { postRxBuffers(packets.count) }
        return packets
    }

    public var postedRxCount: Int { postedRx.count }

    // MARK: - TX

    static func key(_ local: UInt32, _ peer: UInt32) -> UInt64 { UInt64(local) << 32 | UInt64(peer) }

    /// A header from this guest's `port` to host port `hostPort`, with its credit fields.
    public func header(_ op: VsockHeader.Op, port: UInt32, hostPort: UInt32, length: UInt32 = 0,
                       flags: UInt32 = 0) -> VsockHeader {
        VsockHeader(sourceCID: cid, destinationCID: VsockHeader.hostCID, sourcePort: port, destinationPort: hostPort,
                    length: length, op: op, flags: flags, bufferAllocation: bufferAllocation,
                    forwardCount: forwardCounts[Self.key(port, hostPort), default: 0])
    }

    /// Sends one packet: header and payload in two descriptors (as Linux does), in one reused
    /// area of guest memory. `splitHeader` puts the header's two halves in two descriptors.
    public func send(_ header: VsockHeader, payload: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                     splitHeader: Bool = false) {
        precondition(VsockHeader.size + payload.count <= Self.txAreaSize)
        let headerBytes = try! driver.memory.slice(at: txArea, count: VsockHeader.size)
        header.store(to: headerBytes)
        var buffers: [MockBuffer]
        if splitHeader {
            buffers = [MockBuffer(address: txArea, length: 20, deviceWritable: false),
                       MockBuffer(address: GuestAddress(txArea.rawValue + 20), length: UInt32(VsockHeader.size - 20),
                                  deviceWritable: false)]
        } else {
            buffers = [MockBuffer(address: txArea, length: UInt32(VsockHeader.size), deviceWritable: false)]
        }
        if payload.count > 0 {
            let payloadAddress = GuestAddress(txArea.rawValue + UInt64(VsockHeader.size))
            try! driver.memory.write(payload, to: payloadAddress)
            buffers.append(MockBuffer(address: payloadAddress, length: UInt32(payload.count), deviceWritable: false))
        }
        sendRaw(buffers)
    }

    public func send(_ header: VsockHeader, payload: [UInt8]) {
        payload.withUnsafeBytes { send(header, payload: $0) }
    }

    /// Submits any chain on TX (for malformed packets) and kicks.
    public func sendRaw(_ buffers: [MockBuffer]) {
        tx.submit(buffers)
        tx.notify()
    }

    /// TX chains the device has returned since the last call.
    public func takeTxUsed() -> [UsedElement] { tx.takeUsed() }
}
