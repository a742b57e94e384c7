import Devices
import GuestMemory
import TestSupport

/// A virtio-net device on a socket-pair backend, a mock driver, and the mock device loop.
struct NetRig {
    let net: Net
    let backend: SocketPairNetBackend
    let driver: MockVirtioDriver
    let events: MockDeviceEvents

    static let mac = MACAddress(0x06, 0x00, 0xAC, 0x10, 0x00, 0x02)

    init(queueSize: UInt16 = 256, memorySize: UInt64 = 4 << 20, receiveRateLimiter: RateLimiter? = nil,
         transmitRateLimiter: RateLimiter? = nil) {
        backend = SocketPairNetBackend()
        net = Net(backend: backend, mac: Self.mac, queueSize: queueSize, receiveRateLimiter: receiveRateLimiter,
                  transmitRateLimiter: transmitRateLimiter)
        driver = MockVirtioDriver(device: net, memorySize: memorySize)
        events = MockDeviceEvents(transport: driver.transport)
        try! net.connect(events: events)
    }

    var fd: Int32 { backend.fileDescriptor }

    /// DRIVER_OK with `features` (all offered by default); returns (rx, tx).
    func start(features: UInt64? = nil) -> (rx: MockQueue, tx: MockQueue) {
        let queues = driver.start(features: features)
        return (queues[0], queues[1])
    }

    /// The device loop noticing the backend is readable.
    @discardableResult
    func backendReadable() -> Bool { events.fireReadable(fd) }
}

/// A 12-byte virtio_net_hdr_v1 followed by `payload`.
func netFrame(payload: [UInt8], flags: UInt8 = 0, gsoType: UInt8 = 0, headerLength: UInt16 = 0,
              gsoSize: UInt16 = 0, checksumStart: UInt16 = 0, checksumOffset: UInt16 = 0) -> [UInt8] {
    var header: [UInt8] = [flags, gsoType]
    for field in [headerLength, gsoSize, checksumStart, checksumOffset, 0] {
        header += [UInt8(truncatingIfNeeded: field), UInt8(truncatingIfNeeded: field >> 8)]
    }
    return header + payload
}

func pattern(_ count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ 1) }
}

extension MockVirtioDriver {
    /// Posts `count` single-buffer RX chains of `size` bytes; returns the buffers in order.
    func postReceiveBuffers(_ queue: MockQueue, count: Int, size: Int) -> [MockBuffer] {
        (0..<count).map { _ in
            let buffer = writable(size)
            queue.submit([buffer])
            return buffer
        }
    }
}
