import Devices
import GuestMemory
import Synchronization
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// Each device's request path, driven by a hostile driver (VirtioSession) through the mock
// transport. The first input byte picks small device variants (read-only disk, queue size).

/// Fills every buffer with a counter: deterministic, and never fails unless told to.
final class CountingEntropy: EntropySource {
    private let failing: Bool
    init(failing: Bool) { self.failing = failing }
    func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard !failing else { return false }
        for index in buffer.indices { buffer[index] = UInt8(truncatingIfNeeded: index) }
        return true
    }
}

let rngTarget = FuzzTarget(name: "rng", guestFacing: true, run: { bytes in
    var input = FuzzInput(bytes)
    let variant = input.byte()
    let session = VirtioSession(device: Rng(source: CountingEntropy(failing: variant & 1 != 0), queueSize: 16,
                                            maxBytesPerRequest: 1 + Int(variant >> 1) * 64))
    session.start(&input)
    session.play(&input)
}, seeds: { virtioSeeds(request: []) })

/// An in-memory disk of 64 sectors that can be made to fail.
final class FuzzDisk: BlockBackend {
    let size: UInt64
    let isReadOnly: Bool
    private let storage: Mutex<[UInt8]>
    private let failing: Bool

    init(sectors: Int, readOnly: Bool, failing: Bool) {
        size = UInt64(sectors * 512)
        isReadOnly = readOnly
        self.failing = failing
        storage = Mutex([UInt8](repeating: 0x5A, count: sectors * 512))
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        // The device checked the range against the capacity: past it is a device bug.
        precondition(offset <= size && UInt64(buffer.count) <= size - offset, "block read past the disk")
        guard !failing else { throw .system(.read, errno: 5) }
        storage.withLock { storage in
            storage.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[Int(offset)..<(Int(offset) + buffer.count)])) }
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        precondition(!isReadOnly, "write reached a read-only disk")
        precondition(offset <= size && UInt64(buffer.count) <= size - offset, "block write past the disk")
        guard !failing else { throw .system(.write, errno: 5) }
        storage.withLock { storage in
            storage.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[Int(offset)..<(Int(offset) + buffer.count)]).copyMemory(from: buffer) }
        }
    }

    func flush() throws(BlockIOError) {
        guard !failing else { throw .system(.flush, errno: 5) }
    }
}

let blockTarget = FuzzTarget(name: "block", guestFacing: true, run: { bytes in
    var input = FuzzInput(bytes)
    let variant = input.byte()
    let disk = FuzzDisk(sectors: 64, readOnly: variant & 1 != 0, failing: variant & 2 != 0)
    let block = Block(backend: disk, serial: "fuzz-disk", queueSize: 16, sizeMax: 4096)
    let session = VirtioSession(device: block)
    let events = MockDeviceEvents(transport: session.driver.transport)
    try! block.connect(events: events)
    session.chainBuilder = { _, input in
        // virtio_blk_req: header (type, reserved, sector), data, status byte.
        let types: [UInt32] = [0, 1, 4, 8, 11, 13, 2, 0xFFFF_FFFF]
        let type = input.byte() < 240 ? types[input.below(types.count)] : input.integer(UInt32.self)
        var header: [UInt8] = []
        header.append(le: type)
        header.append(le: UInt32(0))
        header.append(le: input.byte() < 224 ? UInt64(input.byte() % 72) : input.integer(UInt64.self))
        var chain: [ChainBuffer] = [.readable(header)]
        for _ in 0..<(input.byte() % 4) {
            let length = input.byte() < 224 ? 512 * Int(input.byte() % 9) : input.below(5000)
            switch type {
            case 1, 11, 13: chain.append(.readable(input.take(length) + [UInt8](repeating: 0, count: max(length - input.remaining, 0))))
            default: chain.append(.writable(length))
            }
        }
        chain.append(.writable(input.byte() < 240 ? 1 : input.below(3)))
        return chain
    }
    session.start(&input)
    session.play(&input)
    if verboseFuzzing { printError("block: \(block.counters)\n") }
}, seeds: {
    var write: [UInt8] = []
    write.append(le: UInt32(1)); write.append(le: UInt32(0)); write.append(le: UInt64(2))
    return virtioSeeds(request: write + [UInt8](repeating: 7, count: 512))
})

let netTarget = FuzzTarget(name: "net", guestFacing: true, run: { bytes in
    var input = FuzzInput(bytes)
    _ = input.byte()
    let backend = SocketPairNetBackend()
    let net = Net(backend: backend, mac: MACAddress(0x06, 0, 0, 0, 0, 1), queueSize: 16)
    let session = VirtioSession(device: net)
    let events = MockDeviceEvents(transport: session.driver.transport)
    try! net.connect(events: events)
    session.chainBuilder = { index, input in
        guard index == 1 else {
            // Receive buffers: room for a header and a frame, or any size.
            return (0..<(1 + input.byte() % 2)).map { _ in .writable(input.byte() < 200 ? [1526, 65562, 12, 100][input.below(4)] : input.below(70000)) }
        }
        // Transmit: a virtio_net_hdr_v1 (12 bytes) with fuzzed offload fields, then the frame.
        return [.readable(input.take(12) + input.bytes(upTo: 1600))]
    }
    session.deviceOperation = { input in
        // The host network: a frame (with its header) from the TAP side, then the loop
        // noticing it; or frames the guest sent drained on the host side.
        if input.bool() {
            // A TAP hands over a virtio_net_hdr (zero: no offloads) and the frame, mostly.
            let frame = (input.byte() < 200 ? [UInt8](repeating: 0, count: 12) : []) + input.bytes(upTo: 2048)
            _ = frame.withUnsafeBytes { send(backend.peer, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            events.fireReadable(backend.fileDescriptor)
        } else {
            while recv(backend.peer, netSink.baseAddress, netSink.count, Int32(MSG_DONTWAIT)) > 0 {}
        }
    }
    session.start(&input)
    session.play(&input)
    if verboseFuzzing { printError("net: \(net.counters)\n") }
}, seeds: { virtioSeeds(request: [UInt8](repeating: 0, count: 12) + [UInt8](repeating: 0xAB, count: 60)) })

/// Where the host side drains frames the guest sent: one buffer for the process (a 70 KB
/// array per drain was a tenth of the target's time, zeroing and page faults).
nonisolated(unsafe) private let netSink = UnsafeMutableRawBufferPointer.allocate(byteCount: 70000, alignment: 16)

/// Seeds for a device target: a start with everything offered and full-size queues, then
/// chains on queues 0 and 1 (raw bytes where a target builds chains: libFuzzer finds the rest).
func virtioSeeds(request: [UInt8]) -> [[UInt8]] {
    var seed: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]  // variant, features byte, queue size shifts
    for queue: UInt8 in [0, 1] {
        seed += [0, queue]                          // op 0: submit a chain on `queue`
        seed.append(le: UInt16(request.count))      // request length (bytes(upTo:))
        seed += request
        seed.append(le: UInt16(0))                  // no split
        seed += [1]                                 // one writable buffer
        seed += [0]; seed.append(le: UInt16(512))   // of 512 bytes
        seed += [0, 0, 0]                           // no shuffle, direct, notify
    }
    return [seed, Array(seed.prefix(12)), [UInt8](repeating: 0xFF, count: 40)]
}
