import Devices
import GuestMemory
import TestSupport
import Testing

/// Guest features without MRG_RXBUF: one chain per frame.
private let withoutMergeable = NetFeature.offered & ~NetFeature.mergeableRxBuffers | VirtioFeature.version1

@Suite struct NetRateLimitTests {
    @Test func unlimitedByDefaultAndBothTimersWatched() {
        let rig = NetRig()
        #expect(rig.net.receiveRateLimiter.config == .unlimited)
        #expect(rig.net.transmitRateLimiter.config == .unlimited)
        #expect(rig.events.mask(of: rig.net.receiveRateLimiter.timerFD) == .readable)
        #expect(rig.events.mask(of: rig.net.transmitRateLimiter.timerFD) == .readable)
        #expect(rig.net.receiveRateLimiter.timerFD != rig.net.transmitRateLimiter.timerFD)
    }

    @Test func transmitFramesBeyondTheBudgetStayInTheRing() throws {
        let clock = ManualClock()
        let limiter = try RateLimiter(RateLimiterConfig(ops: TokenBucketConfig(size: 2, refillTimeMilliseconds: 1000)),
                                      clock: clock.reading)
        let rig = NetRig(transmitRateLimiter: limiter)
        let (_, tx) = rig.start()
        let frames = (0..<4).map { netFrame(payload: pattern(100 + $0, seed: $0)) }
        let heads = frames.map { tx.submit([rig.driver.readable($0)]) }
        tx.notify()
        #expect(tx.takeUsed().map(\.id) == heads[0..<2].map(UInt32.init))
        #expect(rig.backend.nextFrame() == frames[0])
        #expect(rig.backend.nextFrame() == frames[1])
        #expect(rig.backend.nextFrame() == nil)

        tx.notify()  // a kick while blocked sends nothing
        #expect(rig.events.fireReadable(limiter.timerFD))  // nor does an early timer
        #expect(tx.takeUsed().isEmpty)

        clock.advance(milliseconds: 1000)
        rig.events.fireReadable(limiter.timerFD)
        #expect(rig.events.servicedQueues.last == Net.transmitQueue)
        #expect(tx.takeUsed().map(\.id) == heads[2...].map(UInt32.init))
        #expect(rig.backend.nextFrame() == frames[2])
        #expect(rig.backend.nextFrame() == frames[3])
        #expect(rig.net.counters.txFrames == 4)
        #expect(rig.net.counters.txBytes == UInt64((100..<104).reduce(0, +)))
    }

    @Test func transmitBandwidthCountsFramesWithoutTheirHeader() throws {
        let clock = ManualClock()
        let limiter = try RateLimiter(RateLimiterConfig(bandwidth: TokenBucketConfig(size: 1000, refillTimeMilliseconds: 100)),
                                      clock: clock.reading)
        let rig = NetRig(transmitRateLimiter: limiter)
        let (_, tx) = rig.start()
        // 500 payload bytes each: two spend the bucket exactly (the 12-byte headers are free).
        for seed in 0..<3 { tx.submit([rig.driver.readable(netFrame(payload: pattern(500, seed: seed)))]) }
        tx.notify()
        #expect(tx.takeUsed().count == 2)
        clock.advance(milliseconds: 1)  // 10 bytes back: positive
        rig.events.fireReadable(limiter.timerFD)
        #expect(tx.takeUsed().count == 1)
        for seed in 0..<3 { #expect(rig.backend.nextFrame() == netFrame(payload: pattern(500, seed: seed))) }
    }

    @Test func receivedFramesWaitInTheBackendWhileBlocked() throws {
        let clock = ManualClock()
        let limiter = try RateLimiter(RateLimiterConfig(ops: TokenBucketConfig(size: 1, refillTimeMilliseconds: 1000)),
                                      clock: clock.reading)
        let rig = NetRig(receiveRateLimiter: limiter)
        let (rx, _) = rig.start(features: withoutMergeable)
        let buffers = rig.driver.postReceiveBuffers(rx, count: 4, size: 2048)
        rx.notify()
        let frames = (0..<3).map { netFrame(payload: pattern(300, seed: $0)) }
        for frame in frames { #expect(rig.backend.inject(frame)) }
        rig.backendReadable()
        #expect(rx.takeUsed() == [UsedElement(id: 0, length: UInt32(frames[0].count))])
        #expect(rig.net.isReceivePaused)
        #expect(rig.events.mask(of: rig.fd) == [])  // the backend is not watched: no spinning
        #expect(rig.backend.hasPendingFrame)

        // More buffers and an early timer change nothing: frames stay in the backend.
        rig.driver.postReceiveBuffers(rx, count: 1, size: 2048).forEach { _ in }
        rx.notify()
        rig.events.fireReadable(limiter.timerFD)
        #expect(rx.takeUsed().isEmpty)
        #expect(rig.net.isReceivePaused)

        for expected in 1..<3 {
            clock.advance(milliseconds: 1000)
            #expect(rig.events.fireReadable(limiter.timerFD))
            #expect(rx.takeUsed() == [UsedElement(id: UInt32(expected), length: UInt32(frames[expected].count))])
        }
        // One more refill: the backend is empty, so it is watched again.
        clock.advance(milliseconds: 1000)
        rig.events.fireReadable(limiter.timerFD)
        #expect(!rig.net.isReceivePaused)
        #expect(rig.events.mask(of: rig.fd) == .readable)
        #expect(!rig.backend.hasPendingFrame)
        for (index, frame) in frames.enumerated() {
            var expected = frame
            expected[10] = 1  // num_buffers
            #expect(Array(rig.driver.bytes(of: buffers[index]).prefix(frame.count)) == expected)
        }
        #expect(rig.net.counters.rxFrames == 3)
        #expect(rig.net.counters.rxBytes == 900)
        #expect(rig.net.counters.rxErrors == 0)
    }

    @Test func receiveResumesOnTheRealTimer() throws {
        // The real clock and a real epoll: 64 KiB per 20 ms, 16 frames of 16 KiB.
        let limiter = try RateLimiter(RateLimiterConfig(bandwidth: TokenBucketConfig(size: 64 << 10, refillTimeMilliseconds: 20)))
        let backend = SocketPairNetBackend()
        let net = Net(backend: backend, mac: NetRig.mac, receiveRateLimiter: limiter)
        let driver = MockVirtioDriver(device: net, memorySize: 4 << 20)
        let events = EpollDeviceEvents()
        events.transport = driver.transport
        try net.connect(events: events)
        let rx = driver.start(features: withoutMergeable)[0]
        let buffers = driver.postReceiveBuffers(rx, count: 16, size: (16 << 10) + 12)
        rx.notify()
        let frames = (0..<16).map { netFrame(payload: pattern(16 << 10, seed: $0)) }
        for frame in frames { #expect(backend.inject(frame)) }
        var used: [UsedElement] = []
        #expect(events.pump(until: {
            used += rx.takeUsed()
            return used.count == 16
        }, milliseconds: 5000))
        #expect(limiter.throttledEvents > 0)
        for (index, frame) in frames.enumerated() {
            #expect(driver.bytes(of: buffers[index]).dropFirst(12) == frame.dropFirst(12))
        }
    }
}
