import Devices
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct VsockSnapshotTests {
    /// Connections do not survive a restore: the restored device tells the guest with
    /// VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event buffer it had posted, and takes new
    /// connections afterwards.
    @Test func restoreSendsTransportResetAndAcceptsNewConnections() throws {
        let fixture = try VsockFixture()
        let guest = fixture.guest
        let event = guest.driver.writable(4, fill: 0xEE)
        let eventHead = guest.event.submit([event])
        guest.event.notify()
        let (client, _) = try #require(fixture.openFromHost(port: 7))
        #expect(fixture.device.connectionCount == 1)
        let saved = guest.driver.transport.save(fixture.device)
        // The RX chain the device took for the connection's next packet is held across.
        #expect(saved.device.guestCID == VsockFixture.guestCID)
        #expect(saved.device.heldRxHead != nil)
        #expect(guest.event.takeUsed().isEmpty)  // nothing to tell before the restore
        let decoded = try reencoded(saved)

        let path = temporarySocketPath()
        let fresh = try Vsock(guestCID: VsockFixture.guestCID, udsPath: path)
        let transport = guest.driver.replaceDevice(with: fresh)
        let events = EpollDeviceEvents()
        events.transport = transport
        try fresh.connect(events: events)
        try transport.restore(decoded, into: fresh)
        #expect(guest.event.takeUsed() == [UsedElement(id: UInt32(eventHead), length: 4)])
        #expect(guest.driver.bytes(of: event) == [0, 0, 0, 0])  // TRANSPORT_RESET
        #expect(fresh.connectionCount == 0)
        _ = client

        // A new host connection reaches the guest through the restored RX queue.
        let newClient = try #require(HostSocket.connect(path))
        newClient.write("CONNECT 9\n")
        var request: MockVsockGuest.Packet?
        events.pump(until: {
            request = guest.receive().first { $0.op == .request && $0.header.destinationPort == 9 }
            return request != nil
        })
        let hostPort = try #require(request).header.sourcePort
        guest.send(guest.header(.response, port: 9, hostPort: hostPort))
        #expect(newClient.read(limit: 32) == Array("OK \(hostPort)\n".utf8))
    }

    /// Without an event buffer the reset waits for the guest's next one.
    @Test func transportResetWaitsForAnEventBuffer() throws {
        let fixture = try VsockFixture()
        let guest = fixture.guest
        let saved = guest.driver.transport.save(fixture.device)
        let fresh = try Vsock(guestCID: VsockFixture.guestCID, udsPath: temporarySocketPath())
        let transport = guest.driver.replaceDevice(with: fresh)
        let events = EpollDeviceEvents()
        events.transport = transport
        try fresh.connect(events: events)
        try transport.restore(saved, into: fresh)
        #expect(guest.event.takeUsed().isEmpty)
        let head = guest.event.submit([guest.driver.writable(4)])
        guest.event.notify()
        #expect(guest.event.takeUsed() == [UsedElement(id: UInt32(head), length: 4)])
    }

    @Test func anotherCIDOrABadHeldChainIsRefused() throws {
        let fixture = try VsockFixture()
        let guest = fixture.guest
        let saved = guest.driver.transport.save(fixture.device)
        expectHostileEncodingsRefused(saved, VirtioState<VsockState>.self)

        let other = try Vsock(guestCID: 4, udsPath: temporarySocketPath())
        #expect(throws: SnapshotStateError.mismatch(field: "vsock guest CID", saved: 3, device: 4)) {
            try guest.driver.replaceDevice(with: other).restore(saved, into: other)
        }
        let fresh = try Vsock(guestCID: VsockFixture.guestCID, udsPath: temporarySocketPath())
        var held = saved
        held.device.heldRxHead = 999
        #expect(throws: SnapshotStateError.self) { try guest.driver.replaceDevice(with: fresh).restore(held, into: fresh) }
        var badCID = saved
        badCID.device.guestCID = 2
        #expect(throws: SnapshotStateError.invalidValue(field: "vsock guest CID", value: 2)) {
            try VirtioState<VsockState>(decoding: badCID.encoded)
        }
    }
}
