import Devices
import GuestMemory
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Writes that cannot start without blocking (the backend refuses non-blocking writes, as ext4
/// and tmpfs do) run on the drive's thread on the async engine too, each answered on its own in
/// the pass that took it; and a backend swap and a reset while writes wait in the ring on a disk
/// that takes no writes (a FIFO takes non-blocking writes: they go to the ring).
@Suite struct BlockWriteTests {
    /// A real file that takes no non-blocking I/O (the protocol's default), as ext4 takes no
    /// RWF_NOWAIT buffered writes, and claims a size past 2^63 bytes: the kernel refuses a
    /// write there (EINVAL), the sync engine too (the offset does not fit off_t).
    final class RingOnlyFile: BlockBackend {
        let file: FileBlockBackend
        let size = (UInt64(1) << 63) + 64 * 512
        var isReadOnly: Bool { false }
        var fileDescriptor: Int32? { file.fileDescriptor }

        init(_ file: FileBlockBackend) { self.file = file }

        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
            try file.read(into: buffer, at: offset)
        }
        func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
            try file.write(buffer, at: offset)
        }
        func flush() throws(BlockIOError) { try file.flush() }
    }

    static let unwritableSector = (UInt64(1) << 63) / 512 + 1

    /// Four writes in one pass, the second one refused by the kernel: each answered with its
    /// own status, the others on disk. On the async engine too all four are answered in the pass
    /// that took them, without a trip through the ring (its eventfd never signals).
    @Test(arguments: BlockIOEngine.allCases)
    func blockingWritesAreAnsweredInThePassThatTookThem(engine: BlockIOEngine) throws {
        let image = TemporaryFile(contents: diskPattern(64 * 512))
        let bench = BlockBench(backend: RingOnlyFile(try FileBlockBackend(path: image.path, readOnly: false)),
                               engine: engine)
        let plan: [(sector: UInt64, fill: UInt8)] = [(0, 0xA0), (Self.unwritableSector, 0xA1), (1, 0xA2), (2, 0xA3)]
        var heads: [UInt16] = [], statuses: [MockBuffer] = []
        for (sector, fill) in plan {
            let status = bench.status()
            heads.append(bench.queue.submit([bench.header(BlockBench.typeOut, sector: sector),
                                             bench.payload(fill), status]))
            statuses.append(status)
        }
        bench.queue.notify()
        let answeredAtOnce = bench.queue.takeUsed()
        let (later, signals) = takeUsedCountingSignals(bench, count: 4 - answeredAtOnce.count)
        let used = answeredAtOnce + later
        #expect(answeredAtOnce.count == 4)
        #expect(used.count == 4 && Set(used.map(\.id)) == Set(heads.map(UInt32.init)))
        #expect(used.allSatisfy { $0.length == 1 })
        #expect(statuses.map { bench.driver.bytes(of: $0) } == [[ok], [ioError], [ok], [ok]])
        #expect(Array(image.contents[0..<1536]) == [0xA0, 0xA2, 0xA3].flatMap { [UInt8](repeating: $0, count: 512) })
        #expect(Array(image.contents[1536...]) == Array(diskPattern(64 * 512)[1536...]))
        let counters = bench.block.counters
        #expect(counters.ioErrors == 1 && counters.bytesWritten == 1536)
        if engine == .async {
            #expect(bench.block.ioEngine == .async)
            #expect(signals == 0)
        }
    }

    /// Plays the device loop (as `BlockBench.takeUsed`) and adds up the completion eventfd's
    /// counts: how many times the ring signalled.
    private func takeUsedCountingSignals(_ bench: BlockBench, count: Int) -> (used: [UsedElement], signals: UInt64) {
        var used = bench.queue.takeUsed(), signals: UInt64 = 0
        guard let fd = bench.block.completionFD else { return (used, 0) }
        for _ in 0..<2000 where used.count < count {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 1) == 1 {
                var value: UInt64 = 0
                if read(fd, &value, 8) == 8 { signals += value }
                bench.driver.transport.processQueue(Block.requestQueue)
            }
            used += bench.queue.takeUsed()
        }
        var late: UInt64 = 0
        if read(fd, &late, 8) == 8 { signals += late }
        return (used, signals)
    }

    /// Four 512-byte writes in one pass to a disk (a FIFO) whose pipe is full; they wait in the ring.
    private func stalledWrites() -> (disk: StalledDisk, bench: BlockBench, filled: Int, payload: [UInt8]) {
        let disk = StalledDisk()
        let filled = disk.fill()
        let bench = BlockBench(backend: disk.ringWrites, engine: .async)
        var payload: [UInt8] = []
        for sector: UInt64 in 0..<4 {
            let bytes = (0..<512).map { UInt8(truncatingIfNeeded: $0 &+ Int(sector) &* 61) }
            bench.queue.submit([bench.header(BlockBench.typeOut, sector: sector), bench.driver.readable(bytes),
                                bench.status()])
            payload += bytes
        }
        bench.queue.notify()
        return (disk, bench, filled, payload)
    }

    /// PATCH /drives while the writes wait: the swap waits for all of them on the old disk, the
    /// answers are published afterwards, and every write reached the old disk.
    @Test func aSwapWaitsForWritesInFlight() throws {
        let (disk, bench, filled, payload) = stalledWrites()
        #expect(bench.block.ioEngine == .async)
        #expect(bench.queue.takeUsed().isEmpty && bench.block.counters.writeRequests == 4)
        let image = TemporaryFile(contents: diskPattern(2048 * 512))
        let (vmm, replaced) = swapBackendInBackground(bench.block, to: image.path)
        usleep(50_000)
        #expect(!replaced.isSet)  // held off while the writes wait
        let written = disk.drain(filled + payload.count)
        vmm.join()
        #expect(replaced.isSet && bench.block.capacity == 2048)
        #expect(Set(chunks(Array(written.dropFirst(filled)))) == Set(chunks(payload)))
        try publishParkedCompletions(bench)
        let used = bench.queue.takeUsed()
        #expect(used.count == 4 && used.allSatisfy { $0.length == 1 } && Set(used.map(\.id)).count == 4)
        #expect(bench.block.counters.ioErrors == 0 && bench.block.counters.bytesWritten == 2048)
    }

    /// A device reset while the writes wait: the reset (on a vCPU thread) returns only once all
    /// of them ended and answers nothing; nothing is left counted in flight (a second reset
    /// returns at once) and the next writes go through.
    @Test func aResetWaitsForWritesInFlight() throws {
        let (disk, bench, filled, payload) = stalledWrites()
        #expect(bench.queue.takeUsed().isEmpty && bench.block.counters.writeRequests == 4)
        let block = bench.block
        let first = Flag()
        let vcpu = TestThread {
            block.reset()
            first.set()
        }
        usleep(50_000)
        #expect(!first.isSet)
        #expect(Set(chunks(Array(disk.drain(filled + payload.count).dropFirst(filled)))) == Set(chunks(payload)))
        vcpu.join()
        bench.driver.transport.processQueue(Block.requestQueue)
        #expect(bench.queue.takeUsed().isEmpty)  // dropped: the driver took its buffers back

        // Nothing is in flight: a request still counted would make this wait forever (a hang
        // is this test's failure), as every later swap, reset and snapshot would.
        block.reset()

        // The mock driver was not reset: its rings go on.
        for sector: UInt64 in 0..<4 {
            bench.queue.submit([bench.header(BlockBench.typeOut, sector: sector), bench.payload(0x5C), bench.status()])
        }
        bench.queue.notify()
        let used = bench.takeUsed(count: 4)
        #expect(used.count == 4 && used.allSatisfy { $0.length == 1 })
        #expect(disk.drain(4 * 512 + 1).suffix(2048) == [UInt8](repeating: 0x5C, count: 2048))
    }
}
