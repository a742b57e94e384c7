import Devices
import GuestMemory
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An in-memory disk whose operations can be made to fail, counting flushes.
final class MemoryBackend: BlockBackend {
    let size: UInt64
    let isReadOnly: Bool
    private let storage: Mutex<[UInt8]>
    private let flushCount = Atomic<Int>(0)
    /// Reads/writes touching a byte at or past this offset fail with EIO.
    let failFrom = Atomic<UInt64>(.max)
    let failFlush = Atomic<Bool>(false)

    init(size: Int, readOnly: Bool = false) {
        self.size = UInt64(size)
        isReadOnly = readOnly
        storage = Mutex([UInt8](repeating: 0, count: size))
    }

    var flushes: Int { flushCount.load(ordering: .relaxed) }
    var bytes: [UInt8] { storage.withLock { $0 } }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        guard offset + UInt64(buffer.count) <= failFrom.load(ordering: .relaxed) else {
            throw .system(.read, errno: 5)
        }
        storage.withLock { storage in
            for index in buffer.indices { buffer[index] = storage[Int(offset) + index] }
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        guard offset + UInt64(buffer.count) <= failFrom.load(ordering: .relaxed) else {
            throw .system(.write, errno: 5)
        }
        storage.withLock { storage in
            for index in buffer.indices { storage[Int(offset) + index] = buffer[index] }
        }
    }

    func flush() throws(BlockIOError) {
        flushCount.add(1, ordering: .relaxed)
        if failFlush.load(ordering: .relaxed) { throw .system(.flush, errno: 5) }
    }
}

/// A FIFO as a disk: a read waits in the kernel until the test writes bytes into the pipe, so
/// the async engine holds it in flight as long as the test wants; a write completes at once
/// (and feeds a waiting read). Stands in for a slow or stalled disk.
/// `file` as a file system that takes non-blocking writes (XFS, btrfs) sees it: a write that
/// would wait is EAGAIN, so the async engine hands it to the ring. For a FIFO, whose writes have
/// no offset (ESPIPE) and could not run on the sync path.
final class NonBlockingWritesDisk: BlockBackend {
    let file: FileBlockBackend
    var size: UInt64 { file.size }
    var isReadOnly: Bool { file.isReadOnly }
    var fileDescriptor: Int32? { file.fileDescriptor }

    init(_ file: FileBlockBackend) { self.file = file }

    func writeImmediately(from segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64) -> ImmediateTransfer {
        .wouldBlock
    }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        try file.read(into: buffer, at: offset)
    }
    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        try file.write(buffer, at: offset)
    }
    func flush() throws(BlockIOError) { try file.flush() }
}

final class StalledDisk {
    let path: String
    let writer: Int32
    let backend: FileBlockBackend

    init(sectors: UInt64 = 64) {
        path = "/tmp/kiln-block-fifo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        precondition(mkfifo(path, 0o600) == 0)
        let fd = open(path, O_RDWR | O_CLOEXEC)
        writer = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        precondition(fd >= 0 && writer >= 0)
        backend = FileBlockBackend(adopting: fd, size: sectors * 512, readOnly: false)
    }

    /// The disk as the async engine's ring takes its writes (`NonBlockingWritesDisk`).
    var ringWrites: NonBlockingWritesDisk { NonBlockingWritesDisk(backend) }

    deinit {
        close(writer)
        unlink(path)
    }

    /// What a stalled read receives once the disk "answers".
    func feed(_ bytes: [UInt8]) {
        #expect(bytes.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) } == bytes.count)
    }

    /// Fills the pipe: a write to the disk now waits until `drain` makes room. How many bytes
    /// went in.
    func fill() -> Int {
        var filled = 0
        for chunk in [4096, 1] {
            let bytes = [UInt8](repeating: 0xFF, count: chunk)
            while bytes.withUnsafeBytes({ write(writer, $0.baseAddress, chunk) }) == chunk { filled += chunk }
        }
        return filled
    }

    /// Reads `count` bytes out of the pipe (making room for stalled writes), waiting at most two
    /// seconds for them: what arrived.
    func drain(_ count: Int) -> [UInt8] {
        let reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        defer { close(reader) }
        var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<2000 where bytes.count < count {
            let got = chunk.withUnsafeMutableBytes { read(reader, $0.baseAddress, min($0.count, count - bytes.count)) }
            if got > 0 { bytes += chunk[..<got] } else { usleep(1000) }
        }
        return bytes
    }
}

/// A virtio-blk device on a test driver, with helpers to send one request.
struct BlockBench {
    static let typeIn: UInt32 = 0, typeOut: UInt32 = 1, typeFlush: UInt32 = 4, typeGetID: UInt32 = 8

    let block: Block
    let driver: MockVirtioDriver
    let queue: MockQueue

    init(backend: any BlockBackend, serial: String = "kiln-disk-0", queueSize: UInt16 = 256,
         sizeMax: UInt32 = Block.defaultSizeMax, features: UInt64? = nil, rateLimiter: RateLimiter? = nil,
         engine: BlockIOEngine = .sync) {
        block = Block(backend: backend, serial: serial, queueSize: queueSize, sizeMax: sizeMax,
                      rateLimiter: rateLimiter, engine: engine)
        driver = MockVirtioDriver(device: block, memorySize: 4 << 20)
        queue = driver.start(features: features)[0]
    }

    /// Plays the device loop for the async engine until `count` used entries arrived (at most
    /// two seconds): waits on the completion eventfd and has the transport process the queue,
    /// as the VMM's loop does. For a sync drive, takes what is there.
    func takeUsed(count: Int) -> [UsedElement] {
        var used = queue.takeUsed()
        guard let fd = block.completionFD else { return used }
        for _ in 0..<2000 where used.count < count {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 1) == 1 {
                var value: UInt64 = 0
                _ = read(fd, &value, 8)
                driver.transport.processQueue(Block.requestQueue)
            }
            used += queue.takeUsed()
        }
        return used
    }

    func header(_ type: UInt32, sector: UInt64 = 0) -> MockBuffer {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: type.littleEndian) { bytes += $0 }
        bytes += [0, 0, 0, 0]
        withUnsafeBytes(of: sector.littleEndian) { bytes += $0 }
        return driver.readable(bytes)
    }

    /// A device-readable buffer of `count` copies of `byte`.
    func payload(_ byte: UInt8, count: Int = 512) -> MockBuffer {
        driver.readable([UInt8](repeating: byte, count: count))
    }

    /// A status buffer pre-filled with 0xEE, so "no status written" is visible.
    func status() -> MockBuffer { driver.writable(1, fill: 0xEE) }

    /// Submits `buffers` as one chain (indirect if asked), notifies, and returns the used
    /// entries and the status byte (the last buffer's first byte).
    @discardableResult
    func send(_ buffers: [MockBuffer], indirect: Bool = false) -> (used: [UsedElement], status: UInt8) {
        if indirect { queue.submitIndirect(buffers) } else { queue.submit(buffers) }
        queue.notify()
        return (takeUsed(count: 1), driver.bytes(of: buffers.last!).first ?? 0xEE)
    }

    /// Makes a read of `sectors` sectors at `sector` available, without notifying; returns
    /// its data and status buffers.
    @discardableResult
    func submitRead(sector: UInt64, sectors: Int = 1) -> (data: MockBuffer, status: MockBuffer) {
        let data = driver.writable(512 * sectors), status = self.status()
        queue.submit([header(Self.typeIn, sector: sector), data, status])
        return (data, status)
    }

    /// Header + data + status.
    @discardableResult
    func request(_ type: UInt32, sector: UInt64 = 0, data: [MockBuffer] = [], indirect: Bool = false)
        -> (used: UInt32?, status: UInt8) {
        let (used, status) = send([header(type, sector: sector)] + data + [self.status()], indirect: indirect)
        return (used.count == 1 ? used[0].length : nil, status)
    }
}

/// 0, 1, 2, ... 250, 0, 1, ...: every sector differs from its neighbours.
func diskPattern(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8($0 % 251) }
}

/// virtio-blk request statuses the engine tests expect.
let ok: UInt8 = 0, ioError: UInt8 = 1

/// A flag one thread sets and another polls (a backend's "the request reached me").
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// PATCH /drives from the VMM thread: `block`'s backend swapped for the file at `path` on a thread
/// of its own, so the test can see the swap wait; `replaced` is set once it returned.
func swapBackendInBackground(_ block: Block, to path: String) -> (thread: TestThread, replaced: Flag) {
    let replaced = Flag()
    let thread = TestThread {
        _ = try? block.replaceBackend(try FileBlockBackend(path: path, readOnly: false))
        replaced.set()
    }
    return (thread, replaced)
}

/// After a swap that took completions from the ring: the device loop's completion eventfd is
/// still readable, and its handler (run through mock events) publishes the parked answers.
func publishParkedCompletions(_ bench: BlockBench) throws {
    let events = MockDeviceEvents(transport: bench.driver.transport)
    try bench.block.connect(events: events)
    let fd = try #require(bench.block.completionFD)
    var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    #expect(poll(&ready, 1, 2000) == 1)
    #expect(events.fireReadable(fd))
}

/// 512-byte pieces: writes in flight together may reach a FIFO in any order.
func chunks(_ bytes: [UInt8]) -> [[UInt8]] {
    stride(from: 0, to: bytes.count, by: 512).map { Array(bytes[$0..<min($0 + 512, bytes.count)]) }
}
