import Devices
import GuestMemory
import TestSupport
import Testing

private let sector = 512

/// A virtio-blk device with a rate limiter on a manual clock, connected to a mock device loop.
private struct LimitedBlock {
    let clock = ManualClock()
    let image = TemporaryFile(contents: diskPattern(64 * 512))
    let limiter: RateLimiter
    let bench: BlockBench
    let events: MockDeviceEvents

    init(_ config: RateLimiterConfig, engine: BlockIOEngine = .sync) throws {
        limiter = try RateLimiter(config, clock: clock.reading)
        bench = BlockBench(backend: try FileBlockBackend(path: image.path, readOnly: false), rateLimiter: limiter,
                           engine: engine)
        events = MockDeviceEvents(transport: bench.driver.transport)
        try bench.block.connect(events: events)
    }

    /// The device loop finding the limiter's timer expired.
    @discardableResult
    func timerFires() -> Bool { events.fireReadable(limiter.timerFD) }

    func expectSectors(_ data: MockBuffer, from first: Int, count: Int = 1) {
        #expect(bench.driver.bytes(of: data) == Array(diskPattern(64 * 512)[first * sector..<(first + count) * sector]))
    }
}

@Suite struct BlockRateLimitTests {
    @Test func unlimitedByDefaultAndWatchingItsTimer() throws {
        let image = TemporaryFile(contents: diskPattern(8 * 512))
        let bench = BlockBench(backend: try FileBlockBackend(path: image.path, readOnly: true))
        #expect(bench.block.rateLimiter.config == .unlimited)
        let events = MockDeviceEvents(transport: bench.driver.transport)
        try bench.block.connect(events: events)
        #expect(events.mask(of: bench.block.rateLimiter.timerFD) == .readable)
        for index in 0..<32 { bench.submitRead(sector: UInt64(index % 8)) }
        bench.queue.notify()
        #expect(bench.queue.takeUsed().count == 32)
    }

    /// The limiter admits on both engines alike; on Async an admitted request may complete
    /// later, so answers are collected the way the device loop publishes them (`takeUsed(count:)`).
    @Test(arguments: BlockIOEngine.allCases)
    func opsLimitLeavesRequestsInTheRingUntilTheTimerFires(engine: BlockIOEngine) throws {
        let rig = try LimitedBlock(RateLimiterConfig(ops: TokenBucketConfig(size: 2, refillTimeMilliseconds: 1000)),
                                   engine: engine)
        let reads = (0..<4).map { rig.bench.submitRead(sector: UInt64($0)) }
        rig.bench.queue.notify()
        #expect(rig.bench.takeUsed(count: 2).sorted { $0.id < $1.id } == [UsedElement(id: 0, length: 513), UsedElement(id: 3, length: 513)])
        // The others were not touched: no status, no data.
        for read in reads[2...] {
            #expect(rig.bench.driver.bytes(of: read.status) == [0xEE])
            #expect(rig.bench.driver.bytes(of: read.data) == [UInt8](repeating: 0xAA, count: sector))
        }
        #expect(rig.bench.block.counters.requests == 2)
        #expect(rig.limiter.throttledEvents >= 1)

        // A kick, or the timer firing early, finds the budget still spent.
        rig.bench.queue.notify()
        rig.timerFires()
        #expect(rig.bench.queue.takeUsed().isEmpty)

        rig.clock.advance(milliseconds: 1000)
        #expect(rig.timerFires())
        #expect(rig.events.servicedQueues.last == 0)
        #expect(rig.bench.takeUsed(count: 2).sorted { $0.id < $1.id } == [UsedElement(id: 6, length: 513), UsedElement(id: 9, length: 513)])
        for (index, read) in reads.enumerated() {
            #expect(rig.bench.driver.bytes(of: read.status) == [ok])
            rig.expectSectors(read.data, from: index)
        }
        #expect(rig.bench.block.counters.requests == 4)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func bandwidthLimitCountsDataBytes(engine: BlockIOEngine) throws {
        // 2 KiB per 100 ms; each request moves 2 KiB (4 sectors), so one goes per refill.
        let rig = try LimitedBlock(RateLimiterConfig(bandwidth: TokenBucketConfig(size: 2048, refillTimeMilliseconds: 100)),
                                   engine: engine)
        let payload = rig.bench.payload(0x5A, count: 2048)
        rig.bench.queue.submit([rig.bench.header(BlockBench.typeOut, sector: 40), payload, rig.bench.status()])
        let reads = (0..<2).map { rig.bench.submitRead(sector: UInt64(4 * $0), sectors: 4) }
        // GET_ID and FLUSH cost no bytes, but wait their turn behind the reads.
        let id = rig.bench.driver.writable(20)
        rig.bench.queue.submit([rig.bench.header(BlockBench.typeGetID), id, rig.bench.status()])
        rig.bench.queue.submit([rig.bench.header(BlockBench.typeFlush), rig.bench.status()])
        rig.bench.queue.notify()
        #expect(rig.bench.takeUsed(count: 1).count == 1)

        rig.clock.advance(milliseconds: 50)  // half the bucket back: positive, so one more goes
        rig.timerFires()
        #expect(rig.bench.takeUsed(count: 1).count == 1)
        rig.timerFires()
        #expect(rig.bench.queue.takeUsed().isEmpty)  // 1 KiB in debt

        rig.clock.advance(milliseconds: 51)
        rig.timerFires()
        // Debt repaid and 20 bytes in hand: the second read goes, 2028 bytes into debt.
        #expect(rig.bench.takeUsed(count: 1).map(\.length) == [2049])
        rig.clock.advance(milliseconds: 100)
        rig.timerFires()
        // 20 bytes in hand again: GET_ID and FLUSH cost none, so both go.
        #expect(rig.bench.takeUsed(count: 2).map(\.length) == [21, 1])
        rig.expectSectors(reads[0].data, from: 0, count: 4)
        rig.expectSectors(reads[1].data, from: 4, count: 4)
        #expect(rig.bench.driver.bytes(of: id).prefix(11) == ArraySlice("kiln-disk-0".utf8))
        #expect(Array(rig.image.contents[40 * sector..<44 * sector]) == [UInt8](repeating: 0x5A, count: 2048))
        #expect(rig.bench.block.counters.bytesRead == 4096)
        #expect(rig.bench.block.counters.bytesWritten == 2048)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func realTimerResumesTheQueueOnTheDeviceLoop(engine: BlockIOEngine) throws {
        // The real clock and a real epoll (which also watches the async engine's completions):
        // one request per 30 ms.
        let image = TemporaryFile(contents: diskPattern(8 * 512))
        let limiter = try RateLimiter(RateLimiterConfig(ops: TokenBucketConfig(size: 1, refillTimeMilliseconds: 30)))
        let bench = BlockBench(backend: try FileBlockBackend(path: image.path, readOnly: true), rateLimiter: limiter,
                               engine: engine)
        let events = EpollDeviceEvents()
        events.transport = bench.driver.transport
        try bench.block.connect(events: events)
        let reads = (0..<4).map { bench.submitRead(sector: UInt64($0)) }
        bench.queue.notify()
        var used = bench.queue.takeUsed()
        // Sync answers the one admitted read now; Async now or when its completion arrives.
        #expect(engine == .sync ? used.count == 1 : used.count <= 1)
        #expect(events.pump(until: {
            used += bench.queue.takeUsed()
            return used.count == 4
        }, milliseconds: 5000))
        for (index, read) in reads.enumerated() {
            #expect(bench.driver.bytes(of: read.data) == Array(diskPattern(8 * 512)[index * sector..<(index + 1) * sector]))
        }
    }

    @Test func updateReleasesABlockedQueue() throws {
        let rig = try LimitedBlock(RateLimiterConfig(ops: TokenBucketConfig(size: 1, refillTimeMilliseconds: 3_600_000)))
        for index in 0..<3 { rig.bench.submitRead(sector: UInt64(index)) }
        rig.bench.queue.notify()
        #expect(rig.bench.queue.takeUsed().count == 1)
        rig.limiter.update(.unlimited)
        #expect(isReadable(rig.limiter.timerFD, withinMilliseconds: 2000))
        rig.timerFires()
        #expect(rig.bench.queue.takeUsed().count == 2)
        #expect(!isReadable(rig.limiter.timerFD))
    }
}
