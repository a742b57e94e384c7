import Devices
import GuestMemory
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Spins until `condition` holds (at most two seconds).
private func waitFor(_ condition: () -> Bool) -> Bool {
    for _ in 0..<2000 {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

@Suite struct BlockEngineTests {
    let image = TemporaryFile(contents: diskPattern(2048 * 512))

    func bench(_ engine: BlockIOEngine, queueSize: UInt16 = 256) throws -> BlockBench {
        BlockBench(backend: try FileBlockBackend(path: image.path, readOnly: false), queueSize: queueSize,
                   engine: engine)
    }

    /// Segments of different sizes, one of them empty, some sector-unaligned in memory and
    /// length: one host call fills them in order.
    @Test(arguments: BlockIOEngine.allCases)
    func scatteredSegmentsReadAndWriteInOrder(engine: BlockIOEngine) throws {
        let bench = try bench(engine), driver = bench.driver
        let sizes = [100, 0, 412, 1536, 7, 505, 512]  // 3072 bytes: 6 sectors
        let payload = (0..<3072).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        var out: [MockBuffer] = [], start = 0
        for size in sizes {
            out.append(driver.readable(Array(payload[start..<start + size])))
            start += size
        }
        #expect(bench.request(BlockBench.typeOut, sector: 10, data: out) == (1, ok))
        #expect(Array(image.contents[5120..<8192]) == payload)
        let back = sizes.map { driver.writable($0) }
        #expect(bench.request(BlockBench.typeIn, sector: 10, data: back) == (3073, ok))
        #expect(back.flatMap { driver.bytes(of: $0) } == payload)
        #expect(bench.block.counters.bytesRead == 3072 && bench.block.counters.bytesWritten == 3072)
    }

    /// More segments than one preadv takes (UIO_MAXIOV, 1024): the request is split, whole.
    @Test(arguments: BlockIOEngine.allCases)
    func requestsLongerThanIOVMaxAreSplit(engine: BlockIOEngine) throws {
        let bench = try bench(engine, queueSize: 2048), driver = bench.driver
        let segments = (0..<1100).map { _ in driver.writable(512) }
        let (used, status) = bench.send([bench.header(BlockBench.typeIn, sector: 0)] + segments + [bench.status()],
                                        indirect: true)
        #expect(status == ok && used.map(\.length) == [1100 * 512 + 1])
        #expect(segments.flatMap { driver.bytes(of: $0) } == diskPattern(1100 * 512))
    }

    /// The host refuses the I/O (here: a read-write drive whose file is open read-only or
    /// write-only): IOERR, and the next request is served.
    @Test(arguments: BlockIOEngine.allCases)
    func hostErrorsMidRequestAreIOErrors(engine: BlockIOEngine) throws {
        let readOnlyFD = open(image.path, O_RDONLY | O_CLOEXEC)
        let bench = BlockBench(backend: try FileBlockBackend(adopting: readOnlyFD, readOnly: false), engine: engine)
        #expect(bench.request(BlockBench.typeOut, sector: 1, data: [bench.payload(9, count: 1024)]) == (1, ioError))
        #expect(image.contents == diskPattern(2048 * 512))
        #expect(bench.request(BlockBench.typeIn, sector: 1, data: [bench.driver.writable(512)]) == (513, ok))

        let writeOnlyFD = open(image.path, O_WRONLY | O_CLOEXEC)
        let writer = BlockBench(backend: try FileBlockBackend(adopting: writeOnlyFD, readOnly: false), engine: engine)
        #expect(writer.request(BlockBench.typeIn, sector: 1, data: [writer.driver.writable(512)]) == (1, ioError))
        #expect(writer.block.counters.ioErrors == 1)
    }

    /// End of the disk: a whole-sector read of the last sector works; a file that shrank under
    /// the device answers what it had, with IOERR.
    @Test(arguments: BlockIOEngine.allCases)
    func partialReadAtTheEndOfTheDisk(engine: BlockIOEngine) throws {
        let bench = try bench(engine), driver = bench.driver
        let last = [driver.writable(300), driver.writable(212)]
        #expect(bench.request(BlockBench.typeIn, sector: 2047, data: last) == (513, ok))
        #expect(last.flatMap { driver.bytes(of: $0) } == Array(diskPattern(2048 * 512)[(2047 * 512)...]))
        image.truncate(to: 2047 * 512 + 200)
        let data = [driver.writable(512), driver.writable(512)]
        #expect(bench.request(BlockBench.typeIn, sector: 2046, data: data) == (713, ioError))
        #expect(bench.block.counters.ioErrors == 1)
    }

    /// A request waiting on the disk does not hold up the one after it, nor the device thread
    /// (processQueue returns with it in flight); answers go out in completion order.
    @Test func asyncCompletionsArePublishedOutOfOrder() {
        let disk = StalledDisk()
        let bench = BlockBench(backend: disk.ringWrites, engine: .async)
        #expect(bench.block.ioEngine == .async)
        let (stalled, stalledStatus) = bench.submitRead(sector: 0)
        bench.queue.notify()  // returns: the read is in flight, not blocking the thread
        #expect(bench.queue.takeUsed().isEmpty)
        let payload = (0..<512).map { UInt8(truncatingIfNeeded: $0 ^ 0x5A) }
        let writeHead = bench.queue.submit([bench.header(BlockBench.typeOut, sector: 3),
                                            bench.driver.readable(payload), bench.status()])
        bench.queue.notify()
        // The write went into the pipe, which answered the stalled read with the same bytes.
        let used = bench.takeUsed(count: 2)
        #expect(used == [UsedElement(id: UInt32(writeHead), length: 1), UsedElement(id: 0, length: 513)])
        #expect(bench.driver.bytes(of: stalled) == payload)
        #expect(bench.driver.bytes(of: stalledStatus) == [ok])
    }

    /// A guest filling the whole queue gets at most a queue's worth in flight; the rest of the
    /// device goes on, and everything is answered once the disk is.
    @Test func aFloodedQueueIsBoundedByItsSize() {
        let disk = StalledDisk()
        let bench = BlockBench(backend: disk.backend, queueSize: 16, engine: .async)
        for _ in 0..<16 {
            bench.queue.submitIndirect([bench.header(BlockBench.typeIn), bench.driver.writable(512), bench.status()])
        }
        bench.queue.notify()
        #expect(bench.queue.takeUsed().isEmpty)
        #expect(bench.block.counters.requests == 16)
        disk.feed([UInt8](repeating: 1, count: 16 * 512))
        let used = bench.takeUsed(count: 16)
        #expect(used.count == 16 && used.allSatisfy { $0.length == 513 })
        #expect(Set(used.map(\.id)).count == 16)
    }

    /// FLUSH covers the writes answered before it (virtio 1.1, 5.2.6), not requests still in
    /// flight: with a read stalled, a flush is answered (IOERR: a FIFO has no fdatasync); the
    /// read is, once the disk answers.
    @Test func asyncFlushDoesNotWaitForRequestsInFlight() {
        let disk = StalledDisk()
        let bench = BlockBench(backend: disk.backend, engine: .async)
        bench.submitRead(sector: 0)
        let flushHead = bench.queue.submit([bench.header(BlockBench.typeFlush), bench.status()])
        bench.queue.notify()
        #expect(bench.takeUsed(count: 1) == [UsedElement(id: UInt32(flushHead), length: 1)])
        disk.feed([UInt8](repeating: 2, count: 512))
        #expect(bench.takeUsed(count: 1) == [UsedElement(id: 0, length: 513)])
        #expect(bench.block.counters.flushes == 1)
    }

    /// On a real file: writes, then (as a guest does) a FLUSH once they were answered, and
    /// writes and FLUSH in one notification: all succeed.
    @Test func asyncWritesThenFlushSucceed() throws {
        let bench = try bench(.async)
        for sector: UInt64 in 0..<4 {
            bench.queue.submit([bench.header(BlockBench.typeOut, sector: sector), bench.payload(UInt8(sector)),
                                bench.status()])
        }
        bench.queue.notify()
        #expect(bench.takeUsed(count: 4).map(\.length) == [1, 1, 1, 1])
        #expect(bench.request(BlockBench.typeFlush) == (1, ok))
        for sector: UInt64 in 4..<8 {
            bench.queue.submit([bench.header(BlockBench.typeOut, sector: sector), bench.payload(UInt8(sector)),
                                bench.status()])
        }
        let flushHead = bench.queue.submit([bench.header(BlockBench.typeFlush), bench.status()])
        bench.queue.notify()
        let used = bench.takeUsed(count: 5)
        #expect(used.count == 5 && used.allSatisfy { $0.length == 1 } && used.map(\.id).contains(UInt32(flushHead)))
        #expect(bench.block.counters.flushes == 2 && bench.block.counters.ioErrors == 0)
        #expect(Array(image.contents[1536..<2048]) == [UInt8](repeating: 3, count: 512))
        #expect(Array(image.contents[3584..<4096]) == [UInt8](repeating: 7, count: 512))
    }

    /// PATCH /drives with a request in flight: the swap waits until the old file answered it,
    /// the answer is published, and later requests see the new file.
    @Test func aSwapWaitsForAsyncRequestsInFlight() throws {
        let disk = StalledDisk(sectors: 8)
        let bench = BlockBench(backend: disk.backend, engine: .async)
        let (data, _) = bench.submitRead(sector: 0)
        bench.queue.notify()
        #expect(bench.queue.takeUsed().isEmpty)
        let (vmm, replaced) = swapBackendInBackground(bench.block, to: image.path)
        usleep(50_000)
        #expect(!replaced.isSet)  // held off while the read is in flight
        #expect(bench.block.capacity == 8)
        disk.feed([UInt8](repeating: 0x33, count: 512))
        vmm.join()
        #expect(replaced.isSet && bench.block.capacity == 2048)
        // The swap took the completion from the ring; the device loop's eventfd handler still
        // publishes it (the eventfd stays readable, and the parked answer is seen).
        try publishParkedCompletions(bench)
        #expect(bench.queue.takeUsed() == [UsedElement(id: 0, length: 513)])
        #expect(bench.driver.bytes(of: data) == [UInt8](repeating: 0x33, count: 512))
        let after = bench.driver.writable(512)
        #expect(bench.request(BlockBench.typeIn, sector: 1000, data: [after]) == (513, ok))
        #expect(bench.driver.bytes(of: after) == Array(diskPattern(2048 * 512)[512_000..<512_512]))
    }

    /// Read-only drives refuse writes on the async engine too, before any submission.
    @Test func asyncReadOnlyDriveRefusesWrites() throws {
        let bench = BlockBench(backend: try FileBlockBackend(path: image.path, readOnly: true), engine: .async)
        #expect(bench.block.ioEngine == .async)
        #expect(bench.request(BlockBench.typeOut, data: [bench.payload(1)]) == (1, ioError))
        #expect(image.contents == diskPattern(2048 * 512))
        #expect(bench.request(BlockBench.typeIn, data: [bench.driver.writable(512)]) == (513, ok))
    }
}
