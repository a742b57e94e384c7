import Devices
import GuestMemory
import TestSupport
import Testing

/// Guest features without MRG_RXBUF: one chain per frame.
private let withoutMergeable = NetFeature.offered & ~NetFeature.mergeableRxBuffers | VirtioFeature.version1

@Suite struct NetReceiveTests {
    @Test func frameLandsInOneChainWithNumBuffersSet() {
        let rig = NetRig()
        let (rx, _) = rig.start(features: withoutMergeable)
        let buffers = rig.driver.postReceiveBuffers(rx, count: 2, size: 2048)
        rx.notify()
        let frame = netFrame(payload: pattern(1000), flags: 2 /* DATA_VALID */)
        #expect(rig.backend.inject(frame))
        #expect(rig.backendReadable())
        #expect(rx.takeUsed() == [UsedElement(id: 0, length: UInt32(frame.count))])
        var expected = frame
        expected[10] = 1  // num_buffers, set by the device
        #expect(Array(rig.driver.bytes(of: buffers[0]).prefix(frame.count)) == expected)
        #expect(rig.net.counters.rxFrames == 1)
        #expect(rig.net.counters.rxBytes == 1000)
        #expect(rig.driver.interrupts.triggers == 1)
        #expect(rig.events.servicedQueues == [0])
        #expect(!rig.net.isReceivePaused)
    }

    @Test func headerMayStraddleDescriptors() {
        let rig = NetRig()
        let (rx, _) = rig.start(features: withoutMergeable)
        let a = rig.driver.writable(5), b = rig.driver.writable(7), c = rig.driver.writable(100)
        rx.submit([a, b, c])
        rx.notify()
        let frame = netFrame(payload: pattern(50))
        rig.backend.inject(frame)
        rig.backendReadable()
        #expect(rx.takeUsed().map(\.length) == [62])
        let received = rig.driver.bytes(of: a) + rig.driver.bytes(of: b) + Array(rig.driver.bytes(of: c).prefix(50))
        var expected = frame
        expected[10] = 1
        #expect(received == expected)
    }

    @Test func mergeableFrameSpansSeveralChains() {
        let rig = NetRig()
        let (rx, _) = rig.start()
        let buffers = rig.driver.postReceiveBuffers(rx, count: 60, size: 1536)
        rx.notify()
        let big = netFrame(payload: pattern(10_000 - 12, seed: 3), flags: 1, gsoType: 1, gsoSize: 1448)
        let small = netFrame(payload: pattern(80, seed: 4))
        rig.backend.inject(big)
        rig.backend.inject(small)
        rig.backendReadable()
        let used = rx.takeUsed()
        // 10000 bytes in 1536-byte buffers: 6 full and 784 in the 7th; then the small frame.
        #expect(used.map(\.id) == Array(0..<8))
        #expect(used.map(\.length) == Array(repeating: 1536, count: 6) + [784, 92])
        var expectedBig = big
        expectedBig[10] = 7
        let receivedBig = buffers[0..<6].flatMap { rig.driver.bytes(of: $0) } + rig.driver.bytes(of: buffers[6]).prefix(784)
        #expect(receivedBig == expectedBig)
        var expectedSmall = small
        expectedSmall[10] = 1
        #expect(Array(rig.driver.bytes(of: buffers[7]).prefix(92)) == expectedSmall)
        #expect(rig.net.counters.rxFrames == 2)
    }

    @Test func largestTSOFrameFitsMergeableBuffers() {
        let rig = NetRig()
        let (rx, _) = rig.start()
        let buffers = rig.driver.postReceiveBuffers(rx, count: 48, size: 1536)
        rx.notify()
        let frame = netFrame(payload: pattern(NetHeader.maxFrameWithHeader - 12, seed: 9), gsoType: 4)
        rig.backend.inject(frame)
        rig.backendReadable()
        let used = rx.takeUsed()
        #expect(used.count == 43)  // ceil(65562 / 1536)
        #expect(used.reduce(0) { $0 + Int($1.length) } == frame.count)
        var expected = frame
        expected[10] = 43
        let received = buffers.prefix(43).flatMap { rig.driver.bytes(of: $0) }.prefix(frame.count)
        #expect(Array(received) == expected)
    }

    @Test func noBuffersPausesTheBackendUntilTheGuestKicks() {
        let rig = NetRig()
        let (rx, _) = rig.start(features: withoutMergeable)
        let frame = netFrame(payload: pattern(200))
        rig.backend.inject(frame)
        // The loop reports the frame; the guest posted nothing: stop watching, keep the frame.
        #expect(rig.backendReadable())
        #expect(rig.net.isReceivePaused)
        #expect(rig.events.mask(of: rig.fd) == [])
        #expect(rig.backend.hasPendingFrame)
        #expect(!rig.backendReadable())  // an empty mask: the loop no longer calls the device
        #expect(rig.net.counters.rxPauses == 1)
        #expect(rig.net.counters.rxErrors == 0)

        // The guest posts buffers and kicks: the waiting frame arrives, watching resumes.
        let buffer = rig.driver.postReceiveBuffers(rx, count: 2, size: 512)[0]
        rx.notify()
        #expect(rx.takeUsed().map(\.length) == [UInt32(frame.count)])
        #expect(Array(rig.driver.bytes(of: buffer).prefix(12 + 200)).suffix(200) == ArraySlice(pattern(200)))
        #expect(!rig.net.isReceivePaused)
        #expect(rig.events.mask(of: rig.fd) == .readable)
        #expect(!rig.backend.hasPendingFrame)
        #expect(rig.events.rewatchLog == [[], .readable])
    }

    @Test func tooFewMergeableBuffersWaitForMore() {
        let rig = NetRig()
        let (rx, _) = rig.start()
        // 10 KiB posted: a small frame would fit, but the next might be 64 KiB; wait.
        _ = rig.driver.postReceiveBuffers(rx, count: 10, size: 1024)
        rx.notify()
        rig.backend.inject(netFrame(payload: pattern(60)))
        rig.backendReadable()
        #expect(rx.takeUsed().isEmpty)
        #expect(rig.net.isReceivePaused)
        #expect(rig.backend.hasPendingFrame)
        _ = rig.driver.postReceiveBuffers(rx, count: 60, size: 1024)
        rx.notify()
        #expect(rx.takeUsed().map(\.length) == [72])
        #expect(!rig.net.isReceivePaused)
    }

    @Test func backendEndStopsReadingWithoutSpinning() {
        let rig = NetRig()
        let (rx, _) = rig.start(features: withoutMergeable)
        _ = rig.driver.postReceiveBuffers(rx, count: 4, size: 2048)
        rx.notify()
        rig.backend.shutDownPeerWrites()
        #expect(rig.backendReadable())
        #expect(rx.takeUsed().isEmpty)
        #expect(rig.net.counters.rxErrors == 1)
        #expect(rig.net.isReceivePaused)
        #expect(!rig.backendReadable())
    }

    @Test func backendEmptyKeepsWatching() {
        let rig = NetRig()
        let (rx, _) = rig.start(features: withoutMergeable)
        _ = rig.driver.postReceiveBuffers(rx, count: 4, size: 2048)
        rx.notify()
        #expect(rx.takeUsed().isEmpty)
        #expect(!rig.net.isReceivePaused)
        #expect(rig.events.rewatchLog.isEmpty)
        #expect(rig.driver.interrupts.triggers == 0)
    }

    @Test func readableBeforeDriverOKPausesInsteadOfSpinning() {
        let rig = NetRig()
        rig.backend.inject(netFrame(payload: pattern(10)))
        #expect(rig.backendReadable())
        #expect(rig.net.isReceivePaused)
        #expect(!rig.backendReadable())
        #expect(rig.events.servicedQueues.isEmpty)
        // Once running, the guest's first RX kick picks the frame up.
        let (rx, _) = rig.start(features: withoutMergeable)
        _ = rig.driver.postReceiveBuffers(rx, count: 1, size: 256)
        rx.notify()
        #expect(rx.takeUsed().map(\.length) == [22])
        // Its only buffer used, the device stops reading again until the next kick.
        #expect(rig.net.isReceivePaused)
        #expect(rig.events.rewatchLog == [[]])  // no needless epoll_ctl: the state never changed
    }

    @Test func unusableChainsAreReturnedEmpty() {
        let rig = NetRig()
        let (rx, _) = rig.start(features: withoutMergeable)
        let driver = rig.driver
        rx.submit([driver.readable(Array(repeating: 0, count: 64))])  // device-readable
        rx.submit([driver.writable(11)])                               // no room for the header
        rx.submit([MockBuffer(address: driver.memoryEnd, length: 64, deviceWritable: true)])
        let good = driver.writable(256)
        rx.submit([good])
        rx.notify()
        rig.backend.inject(netFrame(payload: pattern(30)))
        rig.backendReadable()
        #expect(rx.takeUsed() == [UsedElement(id: 0, length: 0), UsedElement(id: 1, length: 0),
                                  UsedElement(id: 2, length: 0), UsedElement(id: 3, length: 42)])
        #expect(rig.net.counters.rxMalformed == 3)
        #expect(!driver.status.contains(.needsReset))
    }

    @Test func manyFramesInOneReadiness() {
        let rig = NetRig()
        let (rx, _) = rig.start(features: withoutMergeable)
        _ = rig.driver.postReceiveBuffers(rx, count: 200, size: 128)
        rx.notify()
        for index in 0..<100 { rig.backend.inject(netFrame(payload: pattern(20, seed: index))) }
        rig.backendReadable()
        let used = rx.takeUsed()
        #expect(used.count == 100)
        #expect(used.allSatisfy { $0.length == 32 })
        #expect(!rig.backend.hasPendingFrame)
        #expect(rig.net.counters.rxFrames == 100)
    }

    @Test func resetForgetsHeldChainsAndRestarts() {
        let rig = NetRig()
        var (rx, _) = rig.start()
        // Mergeable chains are held across frames; a reset must drop them with the queue.
        _ = rig.driver.postReceiveBuffers(rx, count: 50, size: 1536)
        rx.notify()
        rig.backend.inject(netFrame(payload: pattern(100)))
        rig.backendReadable()
        #expect(rx.takeUsed().count == 1)
        rig.driver.reset()
        #expect(rig.driver.status.rawValue == 0)
        // Frames arriving while reset wait in the backend.
        let frame = netFrame(payload: pattern(300, seed: 5))
        rig.backend.inject(frame)
        rig.backendReadable()
        #expect(rig.backend.hasPendingFrame)

        (rx, _) = rig.start()
        let buffers = rig.driver.postReceiveBuffers(rx, count: 50, size: 1536)
        rx.notify()
        let used = rx.takeUsed()
        #expect(used.map(\.length) == [312])
        #expect(used.first?.id == UInt32(0))
        #expect(Array(rig.driver.bytes(of: buffers[0]).prefix(312)).suffix(300) == ArraySlice(pattern(300, seed: 5)))
        #expect(rig.backend.offloads.count == 2)
    }
}
