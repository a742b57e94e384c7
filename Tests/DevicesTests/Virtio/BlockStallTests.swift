import Devices
import GuestMemory
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16, point 2: a slow or stalled disk never stalls the other devices. A drive and a
/// virtio-net interface share one device loop on its own thread, as in the VMM; the drive's
/// disk stops answering a read, and net frames from the host must still reach the guest.
/// The test thread only watches, with deadlines, so a loop stuck in the drive's handler fails
/// the test (and the disk is answered at the end, so a stuck loop is released, not leaked).
@Suite(.serialized) struct BlockStallTests {
    /// A drive and a net interface on one `DeviceLoopThread`, net with RX buffers posted.
    final class SharedLoop {
        let loop = DeviceLoopThread()
        let drive: BlockBench
        let driveQueue: DeviceLoopThread.Doorbell
        let netBackend = SocketPairNetBackend()
        let net: Net
        let netDriver: MockVirtioDriver
        let receive: MockQueue
        let receiveBuffers: [MockBuffer]

        /// `driveLoop`: the drive's own loop (as the VMM has it), else this one.
        init(drive backend: any BlockBackend, engine: BlockIOEngine, driveLoop: DeviceLoopThread? = nil) throws {
            drive = BlockBench(backend: backend, engine: engine)
            let served = driveLoop ?? loop
            try drive.block.connect(events: served.events(for: drive.driver.transport))
            driveQueue = served.doorbell(drive.driver.transport, queue: Block.requestQueue)
            net = Net(backend: netBackend, mac: MACAddress(0x06, 0x00, 0xAC, 0x10, 0x00, 0x02), queueSize: 256)
            let netDriver = MockVirtioDriver(device: net, memorySize: 4 << 20)
            let receive = netDriver.start()[0]
            try net.connect(events: loop.events(for: netDriver.transport))
            receiveBuffers = (0..<64).map { _ in
                let buffer = netDriver.writable(2048)
                receive.submit([buffer])
                return buffer
            }
            receive.notify()  // before the loop runs: the device knows its RX buffers
            self.netDriver = netDriver
            self.receive = receive
        }

        /// Sends `count` frames from the host one at a time, each to arrive within `milliseconds`;
        /// how many did.
        func framesArriving(_ count: Int, milliseconds: Int) -> Int {
            for index in 0..<count {
                let frame = netFrame(payload: pattern(100, seed: index))
                guard netBackend.inject(frame) else { return index }
                guard waitFor(milliseconds: milliseconds, { !receive.takeUsed().isEmpty }) else { return index }
            }
            return count
        }
    }

    /// Async engine: the read waits on the disk (a FIFO: io_uring arms a poll for it, as it
    /// hands a regular file that would block to its workers), the device thread does not.
    @Test func aStalledDiskLeavesNetFlowingOnTheAsyncEngine() throws {
        let disk = StalledDisk()
        let rig = try SharedLoop(drive: disk.backend, engine: .async)
        try #require(rig.drive.block.ioEngine == .async)
        let (data, status) = rig.drive.submitRead(sector: 0)
        rig.loop.start()
        rig.driveQueue.ring()
        #expect(waitFor(milliseconds: 2000) { rig.drive.block.counters.readRequests == 1 })

        #expect(rig.framesArriving(32, milliseconds: 2000) == 32)
        #expect(rig.drive.queue.takeUsed().isEmpty)  // still waiting on the disk meanwhile

        let answer = (0..<512).map { UInt8(truncatingIfNeeded: $0 ^ 0xA5) }
        disk.feed(answer)
        var used: [UsedElement] = []
        #expect(waitFor(milliseconds: 2000) {
            used += rig.drive.queue.takeUsed()
            return !used.isEmpty
        })
        rig.loop.stop()
        #expect(used == [UsedElement(id: 0, length: 513)])
        #expect(rig.drive.driver.bytes(of: data) == answer)
        #expect(rig.drive.driver.bytes(of: status) == [0])
    }

    /// Async engine, writes: a disk that takes no write (a FIFO whose pipe is full; it takes
    /// non-blocking writes, so they go to the ring) holds the writes in the ring, not the device
    /// thread; once it takes them, all are answered.
    @Test func aDiskThatTakesNoWritesLeavesNetFlowingOnTheAsyncEngine() throws {
        let disk = StalledDisk()
        let filled = disk.fill()
        let rig = try SharedLoop(drive: disk.ringWrites, engine: .async)
        try #require(rig.drive.block.ioEngine == .async)
        var payload: [UInt8] = []
        for sector: UInt64 in 0..<4 {
            let bytes = [UInt8](repeating: UInt8(0xB0 + sector), count: 512)
            rig.drive.queue.submit([rig.drive.header(BlockBench.typeOut, sector: sector),
                                    rig.drive.driver.readable(bytes), rig.drive.status()])
            payload += bytes
        }
        rig.loop.start()
        rig.driveQueue.ring()
        #expect(waitFor(milliseconds: 2000) { rig.drive.block.counters.writeRequests == 4 })

        #expect(rig.framesArriving(32, milliseconds: 2000) == 32)
        #expect(rig.drive.queue.takeUsed().isEmpty)  // still waiting on the disk meanwhile

        #expect(Set(chunks(Array(disk.drain(filled + payload.count).dropFirst(filled)))) == Set(chunks(payload)))
        var used: [UsedElement] = []
        #expect(waitFor(milliseconds: 2000) {
            used += rig.drive.queue.takeUsed()
            return used.count == 4
        })
        rig.loop.stop()
        #expect(used.count == 4 && used.allSatisfy { $0.length == 1 })
        #expect(rig.drive.block.counters.ioErrors == 0)
    }

    /// The sync engine (and any backend without a file, which runs sync whatever the engine)
    /// reads on the device thread: a disk that does not answer holds every device of the VM
    /// until it does. Documented (README, virtio-blk I/O engines); this pins it, and shows the
    /// test above would catch a stalled loop.
    @Test func aStalledDiskHoldsTheLoopOnTheSyncEngine() throws {
        let disk = HungDisk()
        let rig = try SharedLoop(drive: disk, engine: .sync)
        rig.drive.submitRead(sector: 0)
        rig.loop.start()
        rig.driveQueue.ring()
        #expect(waitFor(milliseconds: 2000) { disk.waiting })

        #expect(rig.framesArriving(1, milliseconds: 300) == 0)  // the loop is inside the read

        disk.answer()
        #expect(waitFor(milliseconds: 2000) { !rig.receive.takeUsed().isEmpty })  // the frame sent above
        #expect(waitFor(milliseconds: 2000) { !rig.drive.queue.takeUsed().isEmpty })
        #expect(rig.framesArriving(4, milliseconds: 2000) == 4)
        rig.loop.stop()
    }
}

/// As the VMM places them (`DeviceLoops`): the drive on a loop of its own, net on the device
/// loop. A write the file cannot take without blocking (as on ext4) runs on the drive's thread on
/// either engine; while the disk holds it, net flows, and then the write is answered.
@Suite(.serialized) struct BlockOwnLoopTests {
    @Test(arguments: BlockIOEngine.allCases)
    func aWriteTheDiskHoldsLeavesNetFlowing(engine: BlockIOEngine) throws {
        let image = TemporaryFile(contents: diskPattern(64 * 512))
        let disk = HeldWritesDisk(try FileBlockBackend(path: image.path, readOnly: false))
        let driveLoop = DeviceLoopThread()
        let rig = try BlockStallTests.SharedLoop(drive: disk, engine: engine, driveLoop: driveLoop)
        #expect(rig.drive.block.ioEngine == engine)
        rig.drive.queue.submit([rig.drive.header(BlockBench.typeOut, sector: 3), rig.drive.payload(0x7E),
                                rig.drive.status()])
        driveLoop.start()
        rig.loop.start()
        rig.driveQueue.ring()
        #expect(waitFor(milliseconds: 2000) { disk.writing })

        #expect(rig.framesArriving(32, milliseconds: 2000) == 32)
        #expect(rig.drive.queue.takeUsed().isEmpty)  // the disk still holds the write

        disk.release()
        var used: [UsedElement] = []
        #expect(waitFor(milliseconds: 2000) {
            used += rig.drive.queue.takeUsed()
            return !used.isEmpty
        })
        rig.loop.stop()
        driveLoop.stop()
        #expect(used.count == 1 && used.first?.length == 1)
        #expect(Array(image.contents[1536..<2048]) == [UInt8](repeating: 0x7E, count: 512))
    }
}

/// A real file (so the async engine submits on it) that takes no non-blocking I/O, whose writes
/// wait until `release()`: a write on a stalled disk.
private final class HeldWritesDisk: BlockBackend {
    let file: FileBlockBackend
    private let released = Atomic<Bool>(false)
    private let writers = Atomic<Int>(0)
    var size: UInt64 { file.size }
    var isReadOnly: Bool { false }
    var fileDescriptor: Int32? { file.fileDescriptor }
    var writing: Bool { writers.load(ordering: .acquiring) > 0 }

    init(_ file: FileBlockBackend) { self.file = file }
    func release() { released.store(true, ordering: .releasing) }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        try file.read(into: buffer, at: offset)
    }
    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        writers.add(1, ordering: .acquiringAndReleasing)
        defer { writers.subtract(1, ordering: .acquiringAndReleasing) }
        while !released.load(ordering: .acquiring) { usleep(1000) }
        try file.write(buffer, at: offset)
    }
    func flush() throws(BlockIOError) { try file.flush() }
}

/// A backend with no file (so it runs on the calling thread) whose reads wait until `answer()`:
/// a disk that hangs in a blocking read, as preadv does on a stalled NFS or FUSE file.
private final class HungDisk: BlockBackend {
    let size: UInt64 = 64 * 512
    let isReadOnly = false
    private let isOpen = Atomic<Bool>(false)
    private let readers = Atomic<Int>(0)

    var waiting: Bool { readers.load(ordering: .acquiring) > 0 }
    func answer() { isOpen.store(true, ordering: .releasing) }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        readers.add(1, ordering: .acquiringAndReleasing)
        defer { readers.subtract(1, ordering: .acquiringAndReleasing) }
        while !isOpen.load(ordering: .acquiring) { usleep(1000) }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
    }

    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(BlockIOError) {}
    func flush() throws(BlockIOError) {}
}

/// Polls `condition` every millisecond until it holds or `milliseconds` pass; whether it held.
func waitFor(milliseconds: Int, _ condition: () -> Bool) -> Bool {
    for _ in 0..<milliseconds {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}
