import Devices
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct VsockLifecycleTests {
    @Test func hostHalfCloseLetsTheGuestKeepSending() throws {
        let fixture = try VsockFixture()
        let (client, hostPort) = try #require(fixture.openFromHost(port: 40))
        let guest = fixture.guest
        client.write(Array("last words".utf8))
        client.shutdownWrite()
        #expect(fixture.receiveData(port: 40, hostPort: hostPort, count: 10) == Array("last words".utf8))
        let shutdown = try #require(fixture.expectPacket { $0.op == .shutdown })
        #expect(shutdown.header.flags == VsockHeader.shutdownSend)
        // The guest answers after the host's EOF, then closes its side.
        guest.send(guest.header(.rw, port: 40, hostPort: hostPort, length: 5), payload: Array("reply".utf8))
        #expect(client.read(limit: 5) == Array("reply".utf8))
        guest.send(guest.header(.shutdown, port: 40, hostPort: hostPort, flags: VsockHeader.shutdownSend))
        #expect(fixture.expectPacket { $0.op == .rst } != nil)
        #expect(client.seesEndOfStream())
        #expect(fixture.device.connectionCount == 0)
    }

    @Test func guestCloseEndsTheHostStreamAfterItsData() throws {
        let allocation: UInt32 = 8192
        let fixture = try VsockFixture(bufferAllocation: allocation)
        let listener = HostListener(path: fixture.path + "_60")
        let host = try #require(fixture.openFromGuest(port: 61, hostPort: 60, listener: listener))
        let guest = fixture.guest
        let message = vsockPattern(4000)
        guest.send(guest.header(.rw, port: 61, hostPort: 60, length: 4000), payload: message)
        guest.send(guest.header(.shutdown, port: 61, hostPort: 60, flags: VsockHeader.shutdownBoth))
        #expect(fixture.expectPacket { $0.op == .rst } != nil)
        #expect(host.read(limit: 4000) == message)
        #expect(host.seesEndOfStream())
        #expect(fixture.device.connectionCount == 0)
    }

    @Test func hostCloseWaitsForTheGuestsRst() throws {
        let fixture = try VsockFixture()
        var (client, hostPort) = try #require(fixture.openFromHost(port: 41))
        client.write(Array("bye".utf8))
        client.close()
        #expect(fixture.receiveData(port: 41, hostPort: hostPort, count: 3) == Array("bye".utf8))
        let shutdown = try #require(fixture.expectPacket { $0.op == .shutdown })
        #expect(shutdown.header.flags == VsockHeader.shutdownBoth)
        #expect(fixture.device.connectionCount == 1)
        fixture.guest.send(fixture.guest.header(.rst, port: 41, hostPort: hostPort))
        #expect(fixture.device.connectionCount == 0)
        #expect(fixture.drain().isEmpty)
        hostPort = 0
    }

    @Test func transportResetDropsEverythingAndTellsTheGuest() throws {
        let fixture = try VsockFixture()
        let guest = fixture.guest
        let event = guest.driver.writable(4, fill: 0xEE)
        let head = guest.event.submit([event])
        guest.event.notify()
        #expect(guest.event.takeUsed().isEmpty)  // held until there is an event
        let (client, _) = try #require(fixture.openFromHost(port: 1))
        fixture.device.resetTransport()
        #expect(guest.event.takeUsed() == [UsedElement(id: UInt32(head), length: 4)])
        #expect(guest.driver.bytes(of: event) == [0, 0, 0, 0])  // VIRTIO_VSOCK_EVENT_TRANSPORT_RESET
        #expect(fixture.device.connectionCount == 0)
        #expect(client.seesEndOfStream())
        // New connections work afterwards.
        #expect(fixture.openFromHost(port: 2) != nil)
    }

    @Test func driverResetClosesEveryConnection() throws {
        let fixture = try VsockFixture()
        let (client, _) = try #require(fixture.openFromHost(port: 3))
        fixture.guest.driver.reset()
        #expect(fixture.device.connectionCount == 0)
        // The reset itself (a vCPU thread in the VMM) makes no system call; the device
        // thread closes the sockets at its next event, here the client's next bytes.
        #expect(!client.seesEndOfStream(milliseconds: 50))
        client.write([1])
        fixture.events.pump(milliseconds: 100)
        #expect(client.seesEndOfStream())
    }

    /// Hundreds of connections both ways, opened concurrently and closed by either side, and
    /// not one descriptor left behind.
    @Test func hundredsOfConnectionsLeakNoDescriptors() throws {
        let before = openSocketInodes()
        // Every socket seen while the connections were open that was not open before.
        var seen: Set<UInt64> = []
        do {
            let fixture = try VsockFixture(rxBuffers: 128)
            let listener = HostListener(path: fixture.path + "_7000")
            let guest = fixture.guest
            for round in 0..<4 {
                // 50 host-initiated and 50 guest-initiated connections open at once.
                var clients: [(HostSocket, UInt32, UInt32)] = []
                for index in 0..<50 {
                    let port = UInt32(1000 + index)
                    let (client, hostPort) = try #require(fixture.openFromHost(port: port))
                    clients.append((client, port, hostPort))
                }
                var accepted: [(HostSocket, UInt32)] = []
                for index in 0..<50 {
                    let port = UInt32(20000 + round * 100 + index)
                    let host = try #require(fixture.openFromGuest(port: port, hostPort: 7000, listener: listener))
                    accepted.append((host, port))
                }
                #expect(fixture.device.connectionCount == 100)
                seen.formUnion(openSocketInodes().subtracting(before))
                // One byte each way on every connection.
                for (client, port, hostPort) in clients {
                    client.write([UInt8(port & 0xFF)])
                    #expect(fixture.receiveData(port: port, hostPort: hostPort, count: 1) == [UInt8(port & 0xFF)])
                }
                for (host, port) in accepted {
                    guest.send(guest.header(.rw, port: port, hostPort: 7000, length: 1), payload: [7])
                    #expect(host.read(limit: 1) == [7])
                }
                // Host clients close (the guest answers the SHUTDOWN with RST); the guest
                // closes its own connections (the device answers with RST).
                for (client, _, _) in clients { client.close() }
                var shutdowns = 0
                fixture.events.pump(until: {
                    for packet in guest.receive() where packet.op == .shutdown {
                        shutdowns += 1
                        guest.send(guest.header(.rst, port: packet.header.destinationPort, hostPort: packet.header.sourcePort))
                    }
                    return shutdowns == 50
                })
                #expect(shutdowns == 50)
                for (_, port) in accepted {
                    guest.send(guest.header(.shutdown, port: port, hostPort: 7000, flags: VsockHeader.shutdownBoth))
                }
                let resets = fixture.drain().filter { $0.op == .rst }.count
                #expect(resets == 50)
                for (host, _) in accepted { #expect(host.seesEndOfStream()) }
                #expect(fixture.device.connectionCount == 0)
            }
            #expect(fixture.device.counters.connectionsOpened == 400)
            #expect(fixture.device.counters.connectionsClosed == 400)
            #expect(fixture.events.watchedCount == 2)  // only the listener and its accept retry timer
        }
        // 100 connections open at a time: the device's end and the host application's of each.
        #expect(seen.count >= 200)
        let left = socketsStillOpen(seen)
        #expect(left.isEmpty, "\(left.count) sockets left open after 400 connections")
    }

    @Test func connectionLimitRefusesMore() throws {
        let fixture = try VsockFixture(maxConnections: 4)
        let listener = HostListener(path: fixture.path + "_1")
        var hosts: [HostSocket] = []
        for port in 0..<4 {
            hosts.append(try #require(fixture.openFromGuest(port: UInt32(port), hostPort: 1, listener: listener)))
        }
        fixture.guest.send(fixture.guest.header(.request, port: 99, hostPort: 1))
        #expect(fixture.expectPacket { $0.op == .rst && $0.header.destinationPort == 99 } != nil)
        #expect(fixture.device.counters.connectionsRefused == 1)
    }
}
