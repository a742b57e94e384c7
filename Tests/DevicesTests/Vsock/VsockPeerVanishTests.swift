import Devices
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A peer that vanishes mid-stream: the host application closing its socket with the guest's
/// bytes unread while the guest is still sending, and the guest resetting a connection the
/// host is still flooding. The other side learns of it, the connection and its socket are
/// gone, late packets change nothing, and the port works again.
@Suite(.serialized) struct VsockPeerVanishTests {
    /// This process's descriptor count once it is back to `before` (other suites run in
    /// parallel and open descriptors for a moment; a leak stays), or after ten seconds of trying.
    @Test func hostVanishingWhileTheGuestSendsResetsTheConnection() throws {
        let fixture = try VsockFixture(bufferAllocation: 65536)
        let listener = HostListener(path: fixture.path + "_90")
        let before = openSocketInodes()
        let host = try #require(fixture.openFromGuest(port: 600, hostPort: 90, listener: listener))
        // The device's socket to the listener and the listener's accepted end (and perhaps a
        // parallel suite's, which closes in time).
        let connection = openSocketInodes().subtracting(before)
        #expect(!connection.isEmpty)
        let guest = fixture.guest
        for seed in 0..<8 {
            guest.send(guest.header(.rw, port: 600, hostPort: 90, length: 4096), payload: vsockPattern(4096, seed: seed))
        }
        #expect(host.read(limit: 4096)?.count == 4096)
        host.close()  // the rest unread

        let ended = try #require(fixture.expectPacket { ($0.op == .rst || $0.op == .shutdown) && $0.header.destinationPort == 600 },
                                 "the guest was not told its peer went away")
        _ = fixture.drain()  // what the device sent before it saw the close (credit updates)
        // The guest, not yet aware, sends on; then ends its side as a driver does.
        for seed in 8..<16 {
            guest.send(guest.header(.rw, port: 600, hostPort: 90, length: 4096), payload: vsockPattern(4096, seed: seed))
        }
        if ended.op == .shutdown { guest.send(guest.header(.rst, port: 600, hostPort: 90)) }
        let late = fixture.drain()
        #expect(late.allSatisfy { $0.header.destinationPort != 600 || $0.op == .rst }, "\(late.map(\.op))")
        #expect(fixture.device.connectionCount == 0)
        #expect(socketsStillOpen(connection).isEmpty, "a socket of the vanished connection is still open")

        // The same host port takes a new connection.
        let again = try #require(fixture.openFromGuest(port: 601, hostPort: 90, listener: listener))
        guest.send(guest.header(.rw, port: 601, hostPort: 90, length: 5), payload: Array("again".utf8))
        #expect(again.read(limit: 5) == Array("again".utf8))
    }

    @Test func guestResetWhileTheHostFloodsEndsTheHostStream() throws {
        let fixture = try VsockFixture()
        let before = openSocketInodes()
        let (client, hostPort) = try #require(fixture.openFromHost(port: 42))
        let connection = openSocketInodes().subtracting(before)
        #expect(!connection.isEmpty)
        // The host writes more than the guest's credit; the guest has taken some of it.
        var queued = 0
        while queued < 1 << 20 {
            let count = client.writeNonBlocking(vsockPattern(65536, seed: queued))
            if count == 0 { break }
            queued += count
        }
        #expect(fixture.receiveData(port: 42, hostPort: hostPort, count: 4096).count >= 4096)

        fixture.guest.send(fixture.guest.header(.rst, port: 42, hostPort: hostPort))
        #expect(fixture.device.connectionCount == 0)
        fixture.events.pump(milliseconds: 100)
        #expect(client.seesEndOfStream(), "the host application was not told the guest went away")
        // Late host bytes reach nobody and change nothing.
        _ = client.writeNonBlocking([1, 2, 3])
        let late = fixture.drain()
        #expect(late.allSatisfy { $0.header.destinationPort != 42 || $0.op == .rst }, "\(late.map(\.op))")
        client.close()
        #expect(socketsStillOpen(connection).isEmpty, "a socket of the reset connection is still open")

        #expect(fixture.openFromHost(port: 42) != nil, "guest port 42 refused a new connection")
    }
}
