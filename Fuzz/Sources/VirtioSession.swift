import Devices
import GuestMemory
import TestSupport

/// A hostile virtio driver whose every move comes from the fuzz input, against a real device
/// behind a real `MMIOTransport` (through the mock driver: no VM). Structure-aware: it
/// negotiates and sets up the queues first, so inputs reach the request paths, then plays
/// operations — well-formed chains, raw descriptors, ring index jumps, register and config
/// accesses, resets — in any order.
///
/// Guest RAM has a hole (`holeStart..<holeEnd`), so buffers straddle or fall into unbacked
/// guest-physical space as well as past the end.
final class VirtioSession {
    static let holeStart: UInt64 = 0xC000
    static let holeEnd: UInt64 = 0xD000
    static let memoryEnd: UInt64 = 0x1_1000
    /// Buffers come from here up to the hole; the mock driver's rings and indirect tables
    /// are below, from 0x1000 (room for every ring and table one input can ask for).
    static let dataStart: UInt64 = 0x6000

    let driver: MockVirtioDriver
    private(set) var queues: [MockQueue] = []
    private var dataCursor = dataStart
    private var restarts = 0
    /// Per queue: the chains submitted and not yet returned, head → (descriptors used,
    /// writable bytes). While the driver has only submitted well-formed chains, every used
    /// element must return one of them, once, with no more bytes than it had room for.
    private var outstanding: [[UInt16: (descriptors: Int, writable: UInt64)]] = []
    private var checksUsedRing = true
    /// Called for operations the device adds (the host side of a backend, a timer...).
    var deviceOperation: ((inout FuzzInput) -> Void)?
    /// Builds a chain for queue `index` from the input: what a driver of this device would
    /// submit (a header, data, a status byte), with fields from the input. Nil, or an empty
    /// result, lets the session use raw input bytes and writable buffers of any size.
    var chainBuilder: ((Int, inout FuzzInput) -> [ChainBuffer])?

    /// One guest RAM for every session of the process, zeroed for each: an mmap and its page
    /// faults per input would cost more than most inputs' device work.
    private static let sharedMemory = try! GuestMemory(layout: [
        (start: GuestAddress(0), size: holeStart),
        (start: GuestAddress(holeEnd), size: memoryEnd - holeEnd),
    ])

    init(device: any VirtioDevice) {
        let memory = Self.sharedMemory
        for region in memory.regions { try! memory.zero(at: region.start, count: Int(region.size)) }
        let interrupts = MockInterruptLine()
        driver = MockVirtioDriver(transport: MMIOTransport(device: device, memory: memory, interrupt: interrupts),
                                  memory: memory, interrupts: interrupts)
    }

    /// Negotiation (features from the input), queues (sizes from the input) and DRIVER_OK.
    func start(_ input: inout FuzzInput) {
        let offered = driver.deviceFeatures
        // Mostly everything offered, sometimes a subset the input picks (which may be refused).
        let features = input.byte() < 192 ? offered : offered & input.integer(UInt64.self)
        guard driver.negotiate(features: features) else { return }
        queues = (0..<driver.transport.queueCount).map { index in
            driver.write(MMIORegister.queueSelect, UInt32(index))
            let maxSize = UInt16(driver.read(MMIORegister.queueNumMax))
            let size = max(maxSize >> (input.byte() % 4), 1)
            return driver.setUpQueue(index, size: size)
        }
        outstanding = Array(repeating: [:], count: queues.count)
        driver.addStatus(.driverOK)
    }

    /// Plays operations until the input runs out (at most `limit`).
    func play(_ input: inout FuzzInput, limit: Int = 64) {
        var steps = 0
        while !input.isEmpty && steps < limit {
            steps += 1
            step(&input)
        }
    }

    private func queue(_ input: inout FuzzInput) -> MockQueue? {
        queues.isEmpty ? nil : queues[Int(input.byte()) % queues.count]
    }

    /// For a harness that breaks the rings itself (a hostile restored state): used elements
    /// are no longer expected to match what was submitted.
    func stopCheckingUsedRing() { checksUsedRing = false }

    private func step(_ input: inout FuzzInput) {
        let operation = input.byte() % 12
        // Raw descriptors, ring indices, memory and registers: the device may now see chains
        // the session did not submit.
        if [3, 4, 5, 6, 8].contains(operation) { checksUsedRing = false }
        switch operation {
        case 0, 1, 2:
            // The common case: a chain whose buffers are valid, carrying a request.
            submitChain(&input)
        case 3:
            guard let queue = queue(&input) else { return }
            queue.writeDescriptor(UInt16(input.below(Int(queue.size))), address: GuestAddress(address(&input)),
                                  length: length(&input), flags: UInt16(input.byte() & 0x0F) | (input.byte() == 0xFF ? 0xFFF0 : 0),
                                  next: input.integer(UInt16.self) % (input.bool() ? queue.size : UInt16.max))
        case 4:
            guard let queue = queue(&input) else { return }
            queue.makeAvailable(input.integer(UInt16.self) % (input.byte() == 0xFF ? UInt16.max : queue.size))
        case 5:
            guard let queue = queue(&input) else { return }
            queue.setAvailableIndex(input.bool() ? queue.availableIndex &+ UInt16(input.byte()) : input.integer(UInt16.self))
        case 6:
            let bytes = input.bytes(upTo: 256)
            let target = address(&input)
            if driver.memory.contains(GuestAddress(target), length: UInt64(bytes.count)) {
                try! driver.memory.write(bytes, to: GuestAddress(target))
            }
        case 7:
            queue(&input)?.notify()
            if let queue = queue(&input) { _ = driver.transport.processQueue(queue.index) }
        case 8:
            // Any register at any width, in whatever state the device is.
            let offset = UInt64(input.integer(UInt16.self) % 0x180)
            let width = [1, 2, 4, 8, 3][input.below(5)]
            if input.bool() {
                var bytes = input.take(width)
                bytes += repeatElement(0, count: width - bytes.count)
                driver.writeBytes(offset, bytes)
            } else {
                _ = driver.readBytes(offset, count: width)
            }
        case 9:
            guard let queue = queue(&input) else { return }
            if input.bool() { queue.setAvailableFlags(input.integer(UInt16.self)) } else { queue.setUsedEvent(input.integer(UInt16.self)) }
        case 10:
            deviceOperation?(&input)
        default:
            // A reset, then (usually) a fresh start: state must not leak across it.
            driver.reset()
            queues = []
            outstanding = []
            // The mock driver never frees ring memory: a few restarts per input.
            restarts += 1
            if restarts <= 3 && input.byte() < 200 { start(&input) }
        }
        checkUsedRings()
    }

    private func checkUsedRings() {
        for (index, queue) in queues.enumerated() {
            let used = queue.takeUsed()
            guard checksUsedRing else { continue }
            for element in used {
                let head = UInt16(truncatingIfNeeded: element.id)
                guard element.id <= UInt32(UInt16.max), let chain = outstanding[index][head] else {
                    preconditionFailure("queue \(index): the device returned head \(element.id), which it does not hold")
                }
                precondition(UInt64(element.length) <= chain.writable,
                             "queue \(index): head \(head) returned with \(element.length) bytes written into \(chain.writable) writable")
                outstanding[index][head] = nil
            }
        }
    }

    /// A guest address: usually inside the data area, sometimes anywhere at all.
    private func address(_ input: inout FuzzInput) -> UInt64 {
        switch input.byte() {
        case 0..<224: Self.dataStart + UInt64(input.integer(UInt16.self)) % (Self.memoryEnd - Self.dataStart)
        case 224..<240: Self.memoryEnd &- UInt64(input.byte())
        default: input.integer(UInt64.self)
        }
    }

    private func length(_ input: inout FuzzInput) -> UInt32 {
        input.byte() < 240 ? UInt32(input.integer(UInt16.self) % 0x2000) : input.integer(UInt32.self)
    }

    /// `count` bytes of the data area (wrapping to its start), nil when they do not fit.
    private func allocate(_ count: Int) -> GuestAddress? {
        let count = UInt64(max(count, 1))
        guard count <= Self.holeStart - Self.dataStart else { return nil }
        if dataCursor + count > Self.holeStart { dataCursor = Self.dataStart }
        defer { dataCursor = (dataCursor + count + 7) & ~7 }
        return GuestAddress(dataCursor)
    }

    private func submitChain(_ input: inout FuzzInput) {
        guard let queue = queue(&input) else { return }
        var specification = chainBuilder?(queue.index, &input) ?? []
        if specification.isEmpty {
            let request = input.bytes(upTo: 512)
            // The request as one or two readable buffers (devices must not assume one per field).
            let split = request.isEmpty ? 0 : input.below(request.count + 1)
            specification = [Array(request[..<split]), Array(request[split...])].filter { !$0.isEmpty }.map { .readable($0) }
            for _ in 0..<(input.byte() % 4) {
                specification.append(.writable(input.byte() < 200 ? input.below(600) : input.below(0x3000)))
            }
        }
        var buffers: [MockBuffer] = []
        for part in specification {
            switch part {
            case .readable(let bytes):
                guard let address = allocate(bytes.count) else { return }
                try! driver.memory.write(bytes, to: address)
                buffers.append(MockBuffer(address: address, length: UInt32(bytes.count), deviceWritable: false))
            case .writable(let count):
                guard let address = allocate(count) else { return }
                buffers.append(MockBuffer(address: address, length: UInt32(count), deviceWritable: true))
            }
        }
        if input.byte() > 240 {
            var generator = SeededGenerator(seed: UInt64(input.byte()))
            buffers.shuffle(using: &generator)
        }
        guard !buffers.isEmpty, buffers.count <= Int(queue.size) else { return }
        let indirect = input.byte() > 224
        let descriptors = indirect ? 1 : buffers.count
        // MockQueue hands out descriptors round-robin: past the queue size in flight, a new
        // chain overwrites one the device still holds, and the bookkeeping stops there.
        let inFlight = outstanding[queue.index].values.reduce(0) { $0 + $1.descriptors }
        if inFlight + descriptors > Int(queue.size) { checksUsedRing = false }
        let head = indirect ? queue.submitIndirect(buffers) : queue.submit(buffers)
        if outstanding[queue.index][head] != nil { checksUsedRing = false }
        let writable = buffers.filter(\.deviceWritable).reduce(UInt64(0)) { $0 + UInt64($1.length) }
        outstanding[queue.index][head] = (descriptors, writable)
        if input.byte() < 224 { queue.notify() }
    }
}

/// One buffer of a chain a builder asks for.
enum ChainBuffer {
    case readable([UInt8])
    case writable(Int)
}

/// A small deterministic generator (SplitMix64), so a shuffle is reproducible from the input.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
