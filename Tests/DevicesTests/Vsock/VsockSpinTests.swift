import Devices
import TestSupport
import Testing

/// Host sockets are watched edge-triggered: data the guest cannot take yet (no RX buffer, RX
/// queue needing reset) must cost one wake-up, not a spinning device loop. Counts handler
/// calls over a fixed time; a spinning loop makes thousands.
@Suite struct VsockSpinTests {
    static let maxCalls = 3

    static func handlerCalls(_ fixture: VsockFixture) -> Int { fixture.events.handlerCalls.values.reduce(0, +) }

    @Test func hostDataWithoutRxBuffersDoesNotSpin() throws {
        let fixture = try VsockFixture(rxBuffers: 4)
        let (client, hostPort) = try #require(fixture.openFromHost(port: 5000))
        _ = fixture.drain()
        // More than the posted buffers hold; the guest posts no more for now.
        let data = (0..<64 * 1024).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        client.write(data)
        fixture.events.run(milliseconds: 50)
        let before = Self.handlerCalls(fixture)
        fixture.events.run(milliseconds: 200)
        #expect(Self.handlerCalls(fixture) - before <= Self.maxCalls)

        // Buffers again: everything arrives.
        let received = fixture.receiveData(port: 5000, hostPort: hostPort, count: data.count)
        #expect(received == data)
    }

    @Test func hostDataWhileRxNeedsResetDoesNotSpin() throws {
        let fixture = try VsockFixture()
        let (client, _) = try #require(fixture.openFromHost(port: 5001))
        _ = fixture.drain()
        fixture.guest.rx.setAvailableIndex(fixture.guest.rx.availableIndex &+ 1000)
        let before = Self.handlerCalls(fixture)
        client.write(Array("hello".utf8))
        fixture.events.run(milliseconds: 200)
        #expect(fixture.guest.driver.status.contains(.needsReset))
        #expect(Self.handlerCalls(fixture) - before <= Self.maxCalls)
    }
}
