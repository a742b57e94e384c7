import Devices
import GuestMemory
import TestSupport
import Testing

@Suite struct VsockPacketCheckTests {
    static let good = VsockHeader(sourceCID: 3, destinationCID: 2, sourcePort: 1, destinationPort: 2, op: .request)

    func check(_ header: VsockHeader, payload: Int = 0) -> VsockPacketCheck {
        VsockPacketCheck.check(header, guestCID: 3, payloadBytes: payload, maxPayload: 65536)
    }

    @Test func headerRoundTripsThroughItsWireFormat() {
        let header = VsockHeader(sourceCID: 0x1122_3344_5566_7788, destinationCID: 2, sourcePort: 0xAABB_CCDD,
                                 destinationPort: 7, length: 9, op: .shutdown, flags: 3,
                                 bufferAllocation: 0x1000, forwardCount: 0xFFFF_FFFF)
        var bytes = [UInt8](repeating: 0, count: 44)
        bytes.withUnsafeMutableBytes { header.store(to: $0) }
        #expect(bytes[0..<8] == [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
        #expect(bytes[28..<32] == [1, 0, 4, 0])  // type STREAM, op SHUTDOWN
        #expect(bytes.withUnsafeBytes { VsockHeader(bytes: $0) } == header)
    }

    @Test func acceptsWellFormedPackets() {
        #expect(check(Self.good) == .accept(.request))
        var rw = Self.good
        rw.op = VsockHeader.Op.rw.rawValue
        rw.length = 65536
        #expect(check(rw, payload: 65536) == .accept(.rw))
        var shutdown = Self.good
        shutdown.op = VsockHeader.Op.shutdown.rawValue
        shutdown.flags = 3
        #expect(check(shutdown) == .accept(.shutdown))
    }

    @Test func checksEveryField() {
        var header = Self.good
        header.sourceCID = 4
        #expect(check(header) == .drop(.sourceCID))
        header = Self.good
        header.destinationCID = 3
        #expect(check(header) == .drop(.destinationCID))
        header = Self.good
        header.type = VsockHeader.typeSeqpacket
        #expect(check(header) == .reset(.type))
        header.op = VsockHeader.Op.rst.rawValue
        #expect(check(header) == .drop(.type))  // never a RST for a RST
        for op: UInt16 in [0, 8, 0xFFFF] {
            header = Self.good
            header.op = op
            #expect(check(header) == .reset(.op))
        }
        header = Self.good
        header.op = VsockHeader.Op.rw.rawValue
        header.length = 100
        #expect(check(header, payload: 99) == .reset(.length))   // claims more than the chain holds
        header.length = 65537
        #expect(check(header, payload: 70000) == .reset(.length))  // above the maximum packet
        header.length = 0
        #expect(check(header) == .reset(.length))
        header.length = 10
        header.flags = 1
        #expect(check(header, payload: 10) == .reset(.flags))
        header = Self.good
        header.length = 4
        #expect(check(header, payload: 4) == .reset(.length))  // a REQUEST carries no payload
        header = Self.good
        header.op = VsockHeader.Op.shutdown.rawValue
        header.flags = 4
        #expect(check(header) == .reset(.flags))
        header.flags = 0
        #expect(check(header) == .reset(.flags))
        header = Self.good
        header.op = VsockHeader.Op.creditUpdate.rawValue
        header.flags = 2
        #expect(check(header) == .reset(.flags))
    }
}

@Suite struct VsockMalformedPacketTests {
    @Test func wrongCIDsAreDroppedWithoutReply() throws {
        let fixture = try VsockFixture()
        let guest = fixture.guest
        var header = guest.header(.request, port: 1, hostPort: 2)
        header.sourceCID = 99
        guest.send(header)
        header = guest.header(.request, port: 1, hostPort: 2)
        header.destinationCID = 3
        guest.send(header)
        #expect(fixture.drain().isEmpty)
        #expect(fixture.device.counters.rejectedPackets == 2)
        #expect(guest.takeTxUsed().map(\.length) == [0, 0])
    }

    @Test func unsupportedTypeAndUnknownOpsGetARst() throws {
        let fixture = try VsockFixture()
        let guest = fixture.guest
        var header = guest.header(.request, port: 10, hostPort: 20)
        header.type = VsockHeader.typeSeqpacket
        guest.send(header)
        header = guest.header(.request, port: 11, hostPort: 21)
        header.op = 42
        guest.send(header)
        header.op = 0
        guest.send(header)
        let packets = fixture.drain()
        #expect(packets.map(\.op) == [.rst, .rst, .rst])
        #expect(packets.map(\.header.destinationPort) == [10, 11, 11])
        #expect(packets[0].header.type == VsockHeader.typeSeqpacket)
    }

    @Test func badLengthsResetAnEstablishedConnection() throws {
        let fixture = try VsockFixture()
        let (client, hostPort) = try #require(fixture.openFromHost(port: 33))
        let guest = fixture.guest
        // RW claims 100 bytes but carries 10.
        guest.send(guest.header(.rw, port: 33, hostPort: hostPort, length: 100), payload: pattern(10))
        #expect(fixture.expectPacket { $0.op == .rst } != nil)
        #expect(client.seesEndOfStream())
        #expect(fixture.device.connectionCount == 0)
        #expect(client.read(milliseconds: 10) == nil)  // none of the 10 bytes reached the host
    }

    @Test func malformedChainsAreReturnedAndIgnored() throws {
        let fixture = try VsockFixture()
        let guest = fixture.guest
        let driver = guest.driver
        // Shorter than a header.
        guest.sendRaw([driver.readable([UInt8](repeating: 0, count: 30))])
        // A device-writable buffer on TX.
        guest.sendRaw([driver.writable(44)])
        // A buffer outside guest RAM.
        guest.sendRaw([MockBuffer(address: driver.memoryEnd, length: 44, deviceWritable: false)])
        // A length that wraps the address space.
        guest.sendRaw([MockBuffer(address: GuestAddress(0x1000), length: .max, deviceWritable: false)])
        #expect(guest.takeTxUsed().map(\.length) == [0, 0, 0, 0])
        #expect(fixture.drain().isEmpty)
        #expect(fixture.device.counters.rejectedPackets == 4)
        // The device still works.
        guest.send(guest.header(.request, port: 1, hostPort: 4444))
        #expect(fixture.expectPacket { $0.op == .rst } != nil)
        #expect(fixture.guest.driver.status.contains(.needsReset) == false)
    }

    @Test func malformedRxBuffersAreReturnedEmpty() throws {
        let fixture = try VsockFixture(rxBuffers: 0)
        let guest = fixture.guest
        // Too small for a header, then device-readable: both unusable.
        guest.rx.submit([guest.driver.writable(20)])
        guest.rx.submit([guest.driver.readable([UInt8](repeating: 0, count: 100))])
        guest.send(guest.header(.request, port: 1, hostPort: 4444))
        #expect(guest.rx.takeUsed().map(\.length) == [0, 0])
        #expect(fixture.device.counters.rejectedRxBuffers == 2)
        guest.postRxBuffers(1)
        #expect(guest.receive().map(\.op) == [.rst])
    }
}

@Suite struct VsockResetTests {
    @Test func packetsForUnknownConnectionsGetARst() throws {
        let fixture = try VsockFixture()
        let guest = fixture.guest
        for op: VsockHeader.Op in [.response, .shutdown, .creditUpdate, .creditRequest] {
            guest.send(guest.header(op, port: 70, hostPort: 71, flags: op == .shutdown ? 3 : 0))
        }
        guest.send(guest.header(.rw, port: 70, hostPort: 71, length: 5), payload: pattern(5))
        let packets = fixture.drain()
        #expect(packets.count == 5)
        #expect(packets.allSatisfy { $0.op == .rst && $0.header.sourcePort == 71 && $0.header.destinationPort == 70 })
    }

    @Test func rstForAnUnknownConnectionIsIgnored() throws {
        let fixture = try VsockFixture()
        fixture.guest.send(fixture.guest.header(.rst, port: 70, hostPort: 71))
        #expect(fixture.drain().isEmpty)
    }

    @Test func duplicateRequestResetsTheConnection() throws {
        let fixture = try VsockFixture()
        let listener = HostListener(path: fixture.path + "_90")
        let host = try #require(fixture.openFromGuest(port: 5, hostPort: 90, listener: listener))
        fixture.guest.send(fixture.guest.header(.request, port: 5, hostPort: 90))
        #expect(fixture.expectPacket { $0.op == .rst } != nil)
        #expect(host.seesEndOfStream())
        #expect(fixture.device.connectionCount == 0)
    }

    @Test func dataBeforeTheGuestAcceptsIsAProtocolError() throws {
        let fixture = try VsockFixture()
        let client = try #require(HostSocket.connect(fixture.path))
        client.write("CONNECT 8\n")
        let request = try #require(fixture.expectPacket { $0.op == .request })
        fixture.guest.send(fixture.guest.header(.rw, port: 8, hostPort: request.header.sourcePort, length: 1), payload: [1])
        #expect(fixture.expectPacket { $0.op == .rst } != nil)
        #expect(client.seesEndOfStream())
    }

    @Test func hostSocketErrorResetsTheGuest() throws {
        let fixture = try VsockFixture()
        let listener = HostListener(path: fixture.path + "_91")
        let host = try #require(fixture.openFromGuest(port: 6, hostPort: 91, listener: listener))
        host.close()
        // The host is gone: SHUTDOWN both ways; data the guest still sends gets a RST.
        let shutdown = try #require(fixture.expectPacket { $0.op == .shutdown })
        #expect(shutdown.header.flags == VsockHeader.shutdownBoth)
        fixture.guest.send(fixture.guest.header(.rw, port: 6, hostPort: 91, length: 3), payload: [1, 2, 3])
        #expect(fixture.expectPacket { $0.op == .rst } != nil)
        #expect(fixture.device.connectionCount == 0)
    }
}
