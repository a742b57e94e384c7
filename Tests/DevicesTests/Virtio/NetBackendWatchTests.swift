import Devices
import GuestMemory
import TestSupport
import Testing

/// The TAP is watched level-triggered: whenever the transport will not drain RX, a frame left in
/// the backend must not make the device loop call the handler again and again. These run a
/// real epoll set for a fixed time and count handler calls (a spinning loop makes thousands).
@Suite struct NetBackendWatchTests {
    static let features = NetFeature.offered & ~NetFeature.mergeableRxBuffers | VirtioFeature.version1
    static let loopMilliseconds = 200
    static let maxCalls = 3

    let backend = SocketPairNetBackend()
    let net: Net
    let driver: MockVirtioDriver
    let events = EpollDeviceEvents()

    init() throws {
        net = Net(backend: backend, mac: NetRig.mac)
        driver = MockVirtioDriver(device: net, memorySize: 4 << 20)
        events.transport = driver.transport
        try net.connect(events: events)
    }

    var handlerCalls: Int { events.handlerCalls[backend.fileDescriptor] ?? 0 }

    /// Re-initialises the device properly, posts buffers and kicks RX: the waiting frame lands.
    func expectDeliveryAfterReinitialisation(of frame: [UInt8]) {
        driver.reset()
        let rx = driver.start(features: Self.features)[Net.receiveQueue]
        _ = driver.postReceiveBuffers(rx, count: 2, size: 2048)
        rx.notify()
        #expect(rx.takeUsed().map(\.length) == [UInt32(frame.count)])
        #expect(!net.isReceivePaused)
        #expect(!backend.hasPendingFrame)
        // Watched again: the next frame comes in through the loop.
        let next = netFrame(payload: pattern(64, seed: 2))
        #expect(backend.inject(next))
        #expect(events.pump(until: { !rx.takeUsed().isEmpty }))
    }

    @Test func rxQueueNeverReadyDoesNotSpin() {
        // DRIVER_OK with only the TX queue set up.
        #expect(driver.negotiate(features: Self.features))
        _ = driver.setUpQueue(Net.transmitQueue)
        driver.addStatus(.driverOK)
        #expect(driver.transport.isActivated)
        let frame = netFrame(payload: pattern(300))
        #expect(backend.inject(frame))

        events.run(milliseconds: Self.loopMilliseconds)
        #expect(handlerCalls >= 1)
        #expect(handlerCalls <= Self.maxCalls)
        #expect(net.isReceivePaused)
        #expect(backend.hasPendingFrame)

        expectDeliveryAfterReinitialisation(of: frame)
    }

    @Test func needsResetDoesNotSpin() {
        let rx = driver.start(features: Self.features)[Net.receiveQueue]
        // avail->idx jumps past the ring: the next RX processing sets NEEDS_RESET.
        rx.setAvailableIndex(rx.availableIndex &+ 1000)
        let frame = netFrame(payload: pattern(300))
        #expect(backend.inject(frame))

        events.run(milliseconds: Self.loopMilliseconds)
        #expect(driver.status.contains(.needsReset))
        #expect(handlerCalls >= 1)
        #expect(handlerCalls <= Self.maxCalls)
        #expect(net.isReceivePaused)
        // The guest's kicks while it needs reset change nothing.
        rx.notify()
        events.run(milliseconds: 50)
        #expect(handlerCalls <= Self.maxCalls)

        expectDeliveryAfterReinitialisation(of: frame)
    }

    @Test func resetWhileRunningDoesNotSpin() {
        let rx = driver.start(features: Self.features)[Net.receiveQueue]
        _ = driver.postReceiveBuffers(rx, count: 2, size: 2048)
        rx.notify()
        driver.reset()
        let frame = netFrame(payload: pattern(300))
        #expect(backend.inject(frame))

        events.run(milliseconds: Self.loopMilliseconds)
        #expect(handlerCalls <= Self.maxCalls)
        #expect(backend.hasPendingFrame)

        expectDeliveryAfterReinitialisation(of: frame)
    }
}
