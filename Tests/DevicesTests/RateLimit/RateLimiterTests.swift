import Devices
import TestSupport
import Testing

private let millisecond: UInt64 = 1_000_000
private let year: UInt64 = 365 * 24 * 3600 * 1_000_000_000

/// A limiter on a manual clock, and what one request of `bytes` does to it.
private struct Meter {
    let clock = ManualClock()
    let limiter: RateLimiter

    init(bandwidth: TokenBucketConfig? = nil, ops: TokenBucketConfig? = nil) throws {
        limiter = try RateLimiter(RateLimiterConfig(bandwidth: bandwidth, ops: ops), clock: clock.reading)
    }

    /// Admits and charges one request; false (and nothing charged) if refused.
    @discardableResult
    func request(bytes: UInt64) -> Bool {
        guard limiter.admit() else { return false }
        limiter.charge(bytes: bytes)
        return true
    }
}

@Suite struct RateLimiterTests {
    @Test func unlimitedNeverBlocks() throws {
        for config in [RateLimiterConfig.unlimited,
                       RateLimiterConfig(bandwidth: TokenBucketConfig(size: 0, refillTimeMilliseconds: 100),
                                         ops: TokenBucketConfig(size: 10, refillTimeMilliseconds: 0))] {
            #expect(config.isUnlimited)
            let meter = try Meter(bandwidth: config.bandwidth, ops: config.ops)
            for _ in 0..<10_000 { #expect(meter.request(bytes: 1 << 40)) }
            #expect(meter.limiter.throttledEvents == 0)
            #expect(!isReadable(meter.limiter.timerFD))
        }
    }

    @Test func bandwidthRefillsInProportionToElapsedTime() throws {
        // 1000 bytes per 100 ms: 10 bytes per millisecond.
        let meter = try Meter(bandwidth: TokenBucketConfig(size: 1000, refillTimeMilliseconds: 100))
        #expect(meter.request(bytes: 1000))
        #expect(!meter.limiter.admit())
        meter.clock.advance(milliseconds: 50)
        #expect(meter.request(bytes: 499))
        #expect(meter.request(bytes: 1))   // exactly 500 came back: 1 byte was left
        #expect(!meter.limiter.admit())
        meter.clock.advance(milliseconds: 10)
        #expect(meter.request(bytes: 100))
        #expect(!meter.limiter.admit())
        #expect(meter.limiter.throttledEvents == 3)
    }

    @Test func refillStopsAtTheBucketSize() throws {
        let meter = try Meter(bandwidth: TokenBucketConfig(size: 1000, refillTimeMilliseconds: 100))
        meter.clock.advance(milliseconds: 10_000)
        #expect(meter.request(bytes: 999))
        #expect(meter.request(bytes: 1))
        #expect(!meter.limiter.admit())
    }

    @Test func fractionsOfATokenAreCarriedOver() throws {
        // 3 ops per 10 ms: one per 3.33 ms. Refilling every millisecond must not lose the
        // thirds, or this bucket would never refill at all.
        let meter = try Meter(ops: TokenBucketConfig(size: 3, refillTimeMilliseconds: 10))
        for _ in 0..<3 { #expect(meter.request(bytes: 0)) }
        for _ in 0..<3 {
            meter.clock.advance(milliseconds: 1)
            #expect(!meter.limiter.admit())
        }
        meter.clock.advance(milliseconds: 1)  // 4 ms: 1.2 ops
        #expect(meter.request(bytes: 0))
        meter.clock.advance(milliseconds: 2)  // 6 ms: 1.8 ops, 1 spent
        #expect(!meter.limiter.admit())
        meter.clock.advance(nanoseconds: 700_000)  // 6.7 ms: 2.01 ops
        #expect(meter.request(bytes: 0))
    }

    @Test func oneTimeBurstIsSpentFirstAndNeverRefilled() throws {
        let meter = try Meter(bandwidth: TokenBucketConfig(size: 100, oneTimeBurst: 1000, refillTimeMilliseconds: 1000))
        // Spent from the burst: the refilled tokens stay full while time passes.
        #expect(meter.request(bytes: 500))
        meter.clock.advance(milliseconds: 5000)
        #expect(meter.request(bytes: 599))  // 500 of burst + 100 tokens = 600
        #expect(meter.request(bytes: 1))
        #expect(!meter.limiter.admit())
        // A whole refill period later only `size` is back, not the burst.
        meter.clock.advance(milliseconds: 10_000)
        #expect(meter.request(bytes: 100))
        #expect(!meter.limiter.admit())
    }

    @Test func aLargeRequestIsDebtThatDelaysTheNextOnes() throws {
        let meter = try Meter(bandwidth: TokenBucketConfig(size: 1000, refillTimeMilliseconds: 1000))
        #expect(meter.request(bytes: 5000))  // balance -4000: 4.001 s until positive
        meter.clock.advance(milliseconds: 4000)
        #expect(!meter.limiter.admit())
        meter.clock.advance(milliseconds: 1)
        #expect(meter.request(bytes: 1))
        #expect(!meter.limiter.admit())
    }

    @Test func everyConfiguredBucketMustAllow() throws {
        let meter = try Meter(bandwidth: TokenBucketConfig(size: 1 << 20, refillTimeMilliseconds: 1000),
                              ops: TokenBucketConfig(size: 2, refillTimeMilliseconds: 1000))
        #expect(meter.request(bytes: 10))
        #expect(meter.request(bytes: 10))
        #expect(!meter.limiter.admit())  // ops spent, bytes plenty
        meter.clock.advance(milliseconds: 500)
        #expect(meter.request(bytes: 2 << 20))  // one op back; this drives bandwidth into debt
        meter.clock.advance(milliseconds: 1000)
        #expect(!meter.limiter.admit())  // two ops back, bandwidth still owes 1 MiB
        meter.clock.advance(milliseconds: 1)
        #expect(meter.limiter.admit())
    }

    @Test func hugeValuesNeitherOverflowNorTrap() throws {
        let most = UInt64.max
        let shapes: [TokenBucketConfig] = [
            TokenBucketConfig(size: most, oneTimeBurst: most, refillTimeMilliseconds: 1),
            TokenBucketConfig(size: most, refillTimeMilliseconds: most),
            TokenBucketConfig(size: 1, refillTimeMilliseconds: most),
            TokenBucketConfig(size: 1, oneTimeBurst: most, refillTimeMilliseconds: 1),
        ]
        for shape in shapes {
            let meter = try Meter(bandwidth: shape, ops: shape)
            for _ in 0..<4 { meter.request(bytes: most) }  // into (saturated) debt
            #expect(!meter.limiter.admit())  // the wait is clamped, the timer armed
            meter.clock.advance(nanoseconds: 100 * year)
            _ = meter.limiter.admit()
            meter.clock.set(most)  // the clock's very end, then back in time
            _ = meter.limiter.admit()
            meter.clock.set(0)
            _ = meter.limiter.admit()
            meter.request(bytes: most)
        }
        // size 2^64-1 per millisecond: a year refills it completely.
        let meter = try Meter(bandwidth: TokenBucketConfig(size: most, refillTimeMilliseconds: 1))
        #expect(meter.request(bytes: most - 1))
        #expect(meter.request(bytes: most))  // owes all but one token of a full bucket
        #expect(!meter.limiter.admit())
        meter.clock.advance(nanoseconds: year)
        #expect(meter.limiter.admit())
    }

    @Test func blockedLimiterArmsItsTimerForWhenItMayGoOn() throws {
        // The real clock: one op per 50 ms.
        let limiter = try RateLimiter(RateLimiterConfig(ops: TokenBucketConfig(size: 1, refillTimeMilliseconds: 50)))
        #expect(limiter.admit())
        limiter.charge(bytes: 0)
        #expect(!limiter.admit())
        #expect(!isReadable(limiter.timerFD))
        #expect(isReadable(limiter.timerFD, withinMilliseconds: 2000))
        limiter.acknowledgeTimer()
        #expect(!isReadable(limiter.timerFD))
        #expect(limiter.admit())
    }

    @Test func updateRefillsWithTheNewBucketsAndFiresTheTimer() throws {
        let meter = try Meter(ops: TokenBucketConfig(size: 1, refillTimeMilliseconds: 1_000_000))
        #expect(meter.request(bytes: 0))
        #expect(!meter.limiter.admit())
        let faster = RateLimiterConfig(bandwidth: TokenBucketConfig(size: 4096, refillTimeMilliseconds: 10),
                                       ops: TokenBucketConfig(size: 3, refillTimeMilliseconds: 10))
        meter.limiter.update(faster)
        #expect(meter.limiter.config == faster)
        #expect(isReadable(meter.limiter.timerFD, withinMilliseconds: 2000))
        meter.limiter.acknowledgeTimer()
        #expect(!isReadable(meter.limiter.timerFD))
        for _ in 0..<3 { #expect(meter.request(bytes: 1)) }  // full buckets, no time passed
        #expect(!meter.limiter.admit())

        meter.limiter.update(.unlimited)
        #expect(meter.limiter.config.isUnlimited)
        #expect(isReadable(meter.limiter.timerFD, withinMilliseconds: 2000))
        for _ in 0..<100 { #expect(meter.request(bytes: 1 << 30)) }
    }
}
