import Devices
import GuestMemory

/// Plays a guest's virtio driver against an `MMIOTransport`, with no VM: register accesses go
/// through the transport's `BusDevice` interface exactly as vCPU MMIO exits would, and the
/// rings live in a test `GuestMemory` (rust-vmm's MockSplitQueue, plus the transport).
///
/// Memory for rings and buffers comes from a bump allocator starting at `heapStart`.
/// Misuse of the mock itself traps: it is test code.
public final class MockVirtioDriver {
    public private(set) var transport: MMIOTransport
    public let memory: GuestMemory
    public let interrupts: MockInterruptLine
    private var nextFree: UInt64

    public init(transport: MMIOTransport, memory: GuestMemory, interrupts: MockInterruptLine,
                heapStart: GuestAddress = GuestAddress(0x1000)) {
        self.transport = transport
        self.memory = memory
        self.interrupts = interrupts
        nextFree = heapStart.rawValue
    }

    /// A fresh guest memory of `memorySize` bytes at address 0, a transport for `device` and
    /// a driver for both.
    public convenience init(device: any VirtioDevice, memorySize: UInt64 = 1 << 20) {
        let memory = try! GuestMemory(layout: [(start: GuestAddress(0), size: memorySize)])
        let interrupts = MockInterruptLine()
        self.init(transport: MMIOTransport(device: device, memory: memory, interrupt: interrupts),
                  memory: memory, interrupts: interrupts)
    }

    /// A snapshot restore seen from the guest: the same memory, rings and interrupt line, and
    /// behind the MMIO window a new transport for `device` (not restored yet: the test restores
    /// it). Queues set up before keep working through it.
    @discardableResult
    public func replaceDevice(with device: any VirtioDevice) -> MMIOTransport {
        transport = MMIOTransport(device: device, memory: memory, interrupt: interrupts)
        return transport
    }

    /// One past the last byte of guest RAM.
    public var memoryEnd: GuestAddress { memory.endAddress }

    // MARK: - Registers

    public func read(_ register: UInt64) -> UInt32 {
        var value: UInt32 = 0xDEAD_BEEF
        withUnsafeMutableBytes(of: &value) { transport.read(offset: register, data: $0) }
        return UInt32(littleEndian: value)
    }

    public func write(_ register: UInt64, _ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { transport.write(offset: register, data: $0) }
    }

    /// An access of any width, for the tests of odd-sized and unaligned accesses.
    public func readBytes(_ offset: UInt64, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xEE, count: count)
        bytes.withUnsafeMutableBytes { transport.read(offset: offset, data: $0) }
        return bytes
    }

    public func writeBytes(_ offset: UInt64, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { transport.write(offset: offset, data: $0) }
    }

    public var status: DeviceStatus { DeviceStatus(rawValue: read(MMIORegister.status)) }

    public func writeStatus(_ status: DeviceStatus) { write(MMIORegister.status, status.rawValue) }

    /// Adds `bits` to the status, as Linux's virtio_add_status does.
    public func addStatus(_ bits: DeviceStatus) { writeStatus(status.union(bits)) }

    public func reset() { write(MMIORegister.status, 0) }

    public var deviceFeatures: UInt64 {
        write(MMIORegister.deviceFeaturesSelect, 0)
        let low = read(MMIORegister.deviceFeatures)
        write(MMIORegister.deviceFeaturesSelect, 1)
        return UInt64(read(MMIORegister.deviceFeatures)) << 32 | UInt64(low)
    }

    public func writeDriverFeatures(_ features: UInt64) {
        write(MMIORegister.driverFeaturesSelect, 0)
        write(MMIORegister.driverFeatures, UInt32(truncatingIfNeeded: features))
        write(MMIORegister.driverFeaturesSelect, 1)
        write(MMIORegister.driverFeatures, UInt32(truncatingIfNeeded: features >> 32))
    }

    public var interruptStatus: InterruptStatus { InterruptStatus(rawValue: read(MMIORegister.interruptStatus)) }

    public func acknowledge(_ bits: InterruptStatus) { write(MMIORegister.interruptACK, bits.rawValue) }

    // MARK: - Initialisation (3.1.1)

    /// ACKNOWLEDGE, DRIVER, write `features`, FEATURES_OK; true if the device kept FEATURES_OK.
    @discardableResult
    public func negotiate(features: UInt64) -> Bool {
        addStatus(.acknowledge)
        addStatus(.driver)
        writeDriverFeatures(features)
        addStatus(.featuresOK)
        return status.contains(.featuresOK)
    }

    /// Allocates rings for queue `index`, programs them and sets QueueReady.
    public func setUpQueue(_ index: Int, size: UInt16? = nil) -> MockQueue {
        write(MMIORegister.queueSelect, UInt32(index))
        let size = size ?? UInt16(read(MMIORegister.queueNumMax))
        let queue = MockQueue(index: index, size: size, driver: self)
        write(MMIORegister.queueNum, UInt32(size))
        writeQueueAddresses(queue)
        write(MMIORegister.queueReady, 1)
        return queue
    }

    /// Rings for queue `index` in guest memory, with no register written (to program them
    /// piecemeal, or wrongly).
    public func allocateQueue(_ index: Int, size: UInt16) -> MockQueue {
        MockQueue(index: index, size: size, driver: self)
    }

    /// Selects the queue and writes its three ring addresses.
    public func writeQueueAddresses(_ queue: MockQueue) {
        write(MMIORegister.queueSelect, UInt32(queue.index))
        for (low, address) in [(MMIORegister.queueDescLow, queue.descriptorTable),
                               (MMIORegister.queueDriverLow, queue.availableRing),
                               (MMIORegister.queueDeviceLow, queue.usedRing)] {
            write(low, UInt32(truncatingIfNeeded: address.rawValue))
            write(low + 4, UInt32(truncatingIfNeeded: address.rawValue >> 32))
        }
    }

    /// The whole sequence: negotiate `features` (default: all offered), set up every queue at
    /// `queueSize` (default: its maximum), DRIVER_OK. Returns the queues.
    public func start(features: UInt64? = nil, queueSize: UInt16? = nil) -> [MockQueue] {
        let accepted = negotiate(features: features ?? deviceFeatures)
        precondition(accepted, "device refused the features")
        let queues = (0..<transport.queueCount).map { setUpQueue($0, size: queueSize) }
        addStatus(.driverOK)
        return queues
    }

    // MARK: - Guest memory

    /// Reserves `count` bytes aligned to `alignment`.
    public func allocate(_ count: Int, alignment: UInt64 = 8) -> GuestAddress {
        let start = (nextFree + alignment - 1) / alignment * alignment
        nextFree = start + UInt64(max(count, 1))
        precondition(memory.contains(GuestAddress(start), length: UInt64(count)), "mock heap exhausted")
        return GuestAddress(start)
    }

    /// A device-readable buffer holding `bytes`.
    public func readable(_ bytes: [UInt8]) -> MockBuffer {
        let address = allocate(bytes.count)
        try! memory.write(bytes, to: address)
        return MockBuffer(address: address, length: UInt32(bytes.count), deviceWritable: false)
    }

    /// A device-writable buffer of `count` bytes, pre-filled with `fill` so a test can tell
    /// which bytes the device wrote.
    public func writable(_ count: Int, fill: UInt8 = 0xAA) -> MockBuffer {
        let address = allocate(count)
        try! memory.write([UInt8](repeating: fill, count: count), to: address)
        return MockBuffer(address: address, length: UInt32(count), deviceWritable: true)
    }

    public func bytes(of buffer: MockBuffer) -> [UInt8] {
        try! memory.readBytes(at: buffer.address, count: Int(buffer.length))
    }

    // MARK: - Config space

    public func readConfig(_ offset: UInt64, count: Int) -> [UInt8] {
        readBytes(MMIORegister.config + offset, count: count)
    }

    public func writeConfig(_ offset: UInt64, _ bytes: [UInt8]) {
        writeBytes(MMIORegister.config + offset, bytes)
    }
}
