import Devices
import GuestMemory
import Synchronization
import TestSupport
import Testing

/// Writes 0x5A, 0x5B, ... and can be told to fail after some calls.
final class PatternSource: EntropySource {
    private let calls = Atomic<Int>(0)
    let failAfter: Int

    init(failAfter: Int = .max) { self.failAfter = failAfter }

    func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard calls.add(1, ordering: .relaxed).newValue <= failAfter else { return false }
        for index in buffer.indices { buffer[index] = UInt8(truncatingIfNeeded: 0x5A + index) }
        return true
    }
}

@Suite struct RngTests {
    @Test func identity() {
        let driver = MockVirtioDriver(device: Rng())
        #expect(driver.read(MMIORegister.deviceID) == 4)
        #expect(driver.deviceFeatures == VirtioFeature.transportFeatures)
        #expect(driver.readConfig(0, count: 4) == [0, 0, 0, 0])
    }

    @Test func fillsEveryWritableBuffer() {
        let rng = Rng(source: PatternSource())
        let driver = MockVirtioDriver(device: rng)
        let queue = driver.start()[0]
        let a = driver.writable(3), b = driver.writable(4)
        let head = queue.submit([a, b])
        queue.notify()
        #expect(queue.takeUsed() == [UsedElement(id: UInt32(head), length: 7)])
        #expect(driver.bytes(of: a) == [0x5A, 0x5B, 0x5C])
        #expect(driver.bytes(of: b) == [0x5A, 0x5B, 0x5C, 0x5D])
        #expect(rng.counters == RngCounters(requests: 1, bytes: 7, errors: 0))
        #expect(driver.interrupts.triggers == 1)
    }

    @Test func requestsAreBounded() {
        let rng = Rng(source: PatternSource(), maxBytesPerRequest: 100)
        let driver = MockVirtioDriver(device: rng)
        let queue = driver.start()[0]
        let a = driver.writable(64), b = driver.writable(64)
        queue.submit([a, b])
        queue.notify()
        #expect(queue.takeUsed().map(\.length) == [100])
        #expect(driver.bytes(of: b)[35] == 0x5A + 35)
        #expect(driver.bytes(of: b)[36] == 0xAA)  // untouched past the bound
    }

    @Test func deviceReadableBufferIsRefused() {
        let rng = Rng(source: PatternSource())
        let driver = MockVirtioDriver(device: rng)
        let queue = driver.start()[0]
        let readable = driver.readable([1, 2, 3])
        queue.submit([driver.writable(2), readable])
        queue.notify()
        #expect(queue.takeUsed().map(\.length) == [0])
        #expect(driver.bytes(of: readable) == [1, 2, 3])
        #expect(rng.counters.errors == 1)
    }

    @Test func failingSourceReturnsWhatWasFilled() {
        let rng = Rng(source: PatternSource(failAfter: 1))
        let driver = MockVirtioDriver(device: rng)
        let queue = driver.start()[0]
        queue.submit([driver.writable(5), driver.writable(5)])
        queue.notify()
        #expect(queue.takeUsed().map(\.length) == [5])
        #expect(rng.counters.errors == 1)
    }

    @Test func malformedAndZeroLengthChains() {
        let rng = Rng(source: PatternSource())
        let driver = MockVirtioDriver(device: rng)
        let queue = driver.start()[0]
        queue.submit([MockBuffer(address: GuestAddress(UInt64.max - 3), length: 8, deviceWritable: true)])
        queue.submit([MockBuffer(address: GuestAddress(0x3000), length: 0, deviceWritable: true)])
        queue.notify()
        #expect(queue.takeUsed().map(\.length) == [0, 0])
        #expect(rng.counters == RngCounters(requests: 2, bytes: 0, errors: 1))
        #expect(!driver.status.contains(.needsReset))
    }

    @Test func systemSourceProducesVaryingBytes() {
        let driver = MockVirtioDriver(device: Rng())
        let queue = driver.start()[0]
        // More than getentropy's 256-byte limit, so the chunking is exercised.
        let a = driver.writable(1000, fill: 0), b = driver.writable(1000, fill: 0)
        queue.submit([a])
        queue.submit([b])
        queue.notify()
        #expect(queue.takeUsed().map(\.length) == [1000, 1000])
        #expect(driver.bytes(of: a) != driver.bytes(of: b))
        #expect(Set(driver.bytes(of: a)).count > 100)
        #expect(driver.bytes(of: a)[900...].contains { $0 != 0 })
    }
}

/// Firecracker's entropy `rate_limiter`: refused requests stay in the ring until the timer.
@Suite struct RngRateLimitTests {
    @Test func unlimitedByDefault() throws {
        let rng = Rng(source: PatternSource())
        #expect(rng.rateLimiter.config == .unlimited)
        let driver = MockVirtioDriver(device: rng)
        let events = MockDeviceEvents(transport: driver.transport)
        try rng.connect(events: events)
        #expect(events.mask(of: rng.rateLimiter.timerFD) == .readable)
        let queue = driver.start()[0]
        for _ in 0..<16 { queue.submit([driver.writable(8)]) }
        queue.notify()
        #expect(queue.takeUsed().count == 16)
    }

    @Test func bandwidthLimitHoldsRequestsUntilTheBucketRefills() throws {
        let clock = ManualClock()
        // 64 bytes per 100 ms: one 64-byte request per refill.
        let limiter = try RateLimiter(RateLimiterConfig(bandwidth: TokenBucketConfig(size: 64, refillTimeMilliseconds: 100)),
                                      clock: clock.reading)
        let rng = Rng(source: PatternSource(), rateLimiter: limiter)
        let driver = MockVirtioDriver(device: rng)
        let events = MockDeviceEvents(transport: driver.transport)
        try rng.connect(events: events)
        let queue = driver.start()[0]
        let buffers = (0..<3).map { _ in driver.writable(64) }
        let heads = buffers.map { queue.submit([$0]) }
        queue.notify()
        #expect(queue.takeUsed() == [UsedElement(id: UInt32(heads[0]), length: 64)])
        #expect(driver.bytes(of: buffers[1]).allSatisfy { $0 == 0xAA })  // untouched
        #expect(limiter.throttledEvents >= 1)
        clock.advance(milliseconds: 100)
        #expect(events.fireReadable(limiter.timerFD))
        #expect(queue.takeUsed() == [UsedElement(id: UInt32(heads[1]), length: 64)])
        clock.advance(milliseconds: 100)
        #expect(events.fireReadable(limiter.timerFD))
        #expect(queue.takeUsed() == [UsedElement(id: UInt32(heads[2]), length: 64)])
        #expect(rng.counters == RngCounters(requests: 3, bytes: 192, errors: 0))
    }
}
