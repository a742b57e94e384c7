import Devices
import GuestMemory
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct BlockSnapshotTests {
    @Test func restoredDiskAnswersTheNextRequest() throws {
        let backend = MemoryBackend(size: 64 * 512)
        let bench = BlockBench(backend: backend)
        #expect(bench.request(BlockBench.typeOut, sector: 3, data: [bench.payload(0x42)]).status == 0)
        #expect(bench.request(BlockBench.typeFlush).status == 0)
        let saved = bench.driver.transport.save(bench.block)
        #expect(saved.device.config.prefix(8) == [64, 0, 0, 0, 0, 0, 0, 0])
        let decoded = try reencoded(saved)

        let fresh = Block(backend: backend, serial: "kiln-disk-0")
        try bench.driver.replaceDevice(with: fresh).restore(decoded, into: fresh)
        let (data, status) = bench.submitRead(sector: 3)
        bench.queue.notify()
        #expect(bench.queue.takeUsed().map(\.length) == [513])
        #expect(bench.queue.usedIndex == 3)
        #expect(bench.driver.bytes(of: data) == [UInt8](repeating: 0x42, count: 512))
        #expect(bench.driver.bytes(of: status) == [0])
        expectHostileEncodingsRefused(decoded, VirtioState<BlockState>.self)
    }

    @Test func anotherDiskIsRefused() throws {
        let bench = BlockBench(backend: MemoryBackend(size: 64 * 512))
        let saved = bench.driver.transport.save(bench.block)
        let smaller = Block(backend: MemoryBackend(size: 32 * 512), serial: "kiln-disk-0")
        #expect(throws: SnapshotStateError.mismatch(field: "block config byte 0", saved: 64, device: 32)) {
            try bench.driver.replaceDevice(with: smaller).restore(saved, into: smaller)
        }
        // Read-only is a feature the driver negotiated.
        let readOnly = Block(backend: MemoryBackend(size: 64 * 512, readOnly: true), serial: "kiln-disk-0")
        #expect(throws: SnapshotStateError.self) {
            try bench.driver.replaceDevice(with: readOnly).restore(saved, into: readOnly)
        }
    }

    /// The budget a guest spent before the snapshot is still spent after it.
    @Test func rateLimiterBalanceCarriesOver() throws {
        let clock = ManualClock()
        let config = RateLimiterConfig(ops: TokenBucketConfig(size: 2, refillTimeMilliseconds: 1000))
        let backend = MemoryBackend(size: 64 * 512)
        let bench = BlockBench(backend: backend, rateLimiter: try RateLimiter(config, clock: clock.reading))
        bench.submitRead(sector: 0)
        bench.submitRead(sector: 1)
        bench.queue.notify()
        #expect(bench.queue.takeUsed().count == 2)
        let saved = bench.driver.transport.save(bench.block)
        #expect(saved.device.rateLimiter.config == config)
        #expect(saved.device.rateLimiter.ops?.tokens == 0)

        let fresh = Block(backend: backend, serial: "kiln-disk-0", rateLimiter: try RateLimiter(.unlimited, clock: clock.reading))
        try bench.driver.replaceDevice(with: fresh).restore(try reencoded(saved), into: fresh)
        #expect(fresh.rateLimiter.config == config)
        bench.submitRead(sector: 2)
        bench.queue.notify()
        #expect(bench.queue.takeUsed().isEmpty)  // no budget left
        clock.advance(milliseconds: 500)
        bench.driver.transport.processQueue(Block.requestQueue)
        #expect(bench.queue.takeUsed().map(\.length) == [513])
    }

    @Test func badLimiterBalanceIsRefused() throws {
        let config = RateLimiterConfig(ops: TokenBucketConfig(size: 2, refillTimeMilliseconds: 1000))
        let backend = MemoryBackend(size: 64 * 512)
        let bench = BlockBench(backend: backend, rateLimiter: try RateLimiter(config))
        var saved = bench.driver.transport.save(bench.block)
        saved.device.rateLimiter.ops?.tokens = 3
        let fresh = Block(backend: backend, serial: "kiln-disk-0")
        #expect(throws: SnapshotStateError.invalidValue(field: "block rate limiter ops tokens", value: 3)) {
            try bench.driver.replaceDevice(with: fresh).restore(saved, into: fresh)
        }
    }

    /// A request the async engine has in flight is answered before the state is read: no
    /// snapshot holds one.
    @Test func saveFinishesAsyncRequestsInFlight() throws {
        let disk = FifoDisk()
        let bench = BlockBench(backend: disk.backend, engine: .async)
        try #require(bench.block.ioEngine == .async)
        let (data, _) = bench.submitRead(sector: 0)
        bench.queue.notify()
        #expect(bench.queue.takeUsed().isEmpty)  // in flight: the disk has not answered
        let answer = TestThread {
            usleep(50_000)
            disk.feed([UInt8](repeating: 7, count: 512))
        }
        let saved = bench.driver.transport.save(bench.block)
        answer.join()
        #expect(bench.queue.takeUsed().map(\.length) == [513])
        #expect(bench.driver.bytes(of: data) == [UInt8](repeating: 7, count: 512))
        #expect(saved.transport.queues[0].nextUsed == 1)
        #expect(saved.transport.interruptStatus == InterruptStatus.usedBuffer.rawValue)
    }
}

/// A FIFO as a disk: a read stays in flight until the test writes bytes into the pipe.
private final class FifoDisk: @unchecked Sendable {
    let path = "/tmp/kiln-snapshot-fifo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let writer: Int32
    let backend: FileBlockBackend

    init() {
        precondition(mkfifo(path, 0o600) == 0)
        let fd = open(path, O_RDWR | O_CLOEXEC)
        writer = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        precondition(fd >= 0 && writer >= 0)
        backend = FileBlockBackend(adopting: fd, size: 64 * 512, readOnly: false)
    }

    deinit {
        close(writer)
        unlink(path)
    }

    func feed(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) }
    }
}
