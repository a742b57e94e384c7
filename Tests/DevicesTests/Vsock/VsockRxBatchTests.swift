import Devices
import TestSupport
import Testing

/// One host read fills several RX buffers: packets keep stream order and exact lengths, the
/// guest's credit still bounds them, and buffers the read did not need stay available.
@Suite struct VsockRxBatchTests {
    /// A connection from a host client whose first 4096 bytes filled the one posted buffer,
    /// so that `rest` bytes wait in the host socket while the guest has no RX buffer.
    private func connectionWithBytesWaiting(_ fixture: VsockFixture, port: UInt32, total: Int)
        throws -> (HostSocket, UInt32) {
        let (client, hostPort) = try #require(fixture.openFromHost(port: port))
        #expect(fixture.guest.postedRxCount == 1)
        client.write(vsockPattern(total))
        var first: [MockVsockGuest.Packet] = []
        fixture.events.pump(until: {
            first += fixture.guest.receive(repost: false)
            return !first.isEmpty
        }, milliseconds: 2000)
        #expect(first.map(\.payload.count) == [4096])
        #expect(first.first?.payload == Array(vsockPattern(total)[0..<4096]))
        #expect(fixture.guest.postedRxCount == 0)
        return (client, hostPort)
    }

    private func rwPackets(_ guest: MockVsockGuest) -> [MockVsockGuest.Packet] {
        guest.receive(repost: false).filter { $0.op == .rw }
    }

    @Test(arguments: [false, true])
    func oneKickFillsManyBuffersInStreamOrder(splitHeader: Bool) throws {
        let fixture = try VsockFixture(rxBuffers: 1)
        let total = 4096 + 8 * 4096 + 100
        let (client, hostPort) = try connectionWithBytesWaiting(fixture, port: 40, total: total)
        let guest = fixture.guest
        let readsBefore = fixture.device.counters.hostReads
        guest.postRxBuffers(16, splitHeader: splitHeader)
        let packets = rwPackets(guest)
        // One read for all 9 packets (it came back short, so the socket is known empty).
        #expect(fixture.device.counters.hostReads == readsBefore + 1)
        #expect(packets.map(\.payload.count) == Array(repeating: 4096, count: 8) + [100])
        #expect(packets.allSatisfy { Int($0.header.length) == $0.payload.count && $0.header.sourcePort == hostPort })
        let streamIntact = packets.flatMap(\.payload) == Array(vsockPattern(total)[4096...])
        #expect(streamIntact)
        // The 7 buffers the read did not need went back to the ring and take the next bytes.
        #expect(guest.postedRxCount == 7)
        client.write(vsockPattern(5000, seed: 3))
        let later = fixture.receiveData(port: 40, hostPort: hostPort, count: 5000) == vsockPattern(5000, seed: 3)
        #expect(later)
        #expect(fixture.device.counters.bytesToGuest == UInt64(total + 5000))
    }

    @Test func theGuestsCreditBoundsTheBatch() throws {
        let fixture = try VsockFixture(rxBuffers: 1)
        let guest = fixture.guest
        guest.bufferAllocation = 10_000
        guest.autoForward = false
        let (_, _) = try connectionWithBytesWaiting(fixture, port: 41, total: 64 * 1024)
        let readsBefore = fixture.device.counters.hostReads
        guest.postRxBuffers(16)
        #expect(fixture.device.counters.hostReads == readsBefore + 1)
        // 10,000 bytes of credit: 4096 went before, then 4096 + 1808 in one batch.
        #expect(rwPackets(guest).map(\.payload.count) == [4096, 1808])
        #expect(guest.postedRxCount == 14)
        #expect(fixture.drain().filter { $0.op == .rw }.isEmpty)
    }

    /// A device-readable chain among the RX buffers ends the batch; the normal path then
    /// rejects it and the stream continues in the buffers after it.
    @Test func aMalformedChainEndsTheBatchAndIsRejected() throws {
        let fixture = try VsockFixture(rxBuffers: 1)
        let total = 5 * 4096
        let (_, hostPort) = try connectionWithBytesWaiting(fixture, port: 42, total: total)
        let guest = fixture.guest
        guest.postRxBuffers(2, notify: false)
        guest.rx.submit([guest.driver.readable(Array(repeating: 0, count: VsockHeader.size + 4096))])
        guest.postRxBuffers(2)
        let packets = rwPackets(guest)
        #expect(packets.map(\.payload.count) == [4096, 4096, 4096, 4096])
        let streamIntact = packets.flatMap(\.payload) == Array(vsockPattern(total)[4096...])
        #expect(streamIntact)
        #expect(packets.allSatisfy { $0.header.sourcePort == hostPort })
        #expect(fixture.device.counters.rejectedRxBuffers == 1)
    }

    /// A chain with more descriptors than a batch slot holds ends the batch and is then
    /// filled by the normal path, which takes any number of descriptors.
    @Test func aManyDescriptorChainEndsTheBatchAndIsStillFilled() throws {
        let fixture = try VsockFixture(rxBuffers: 1)
        let total = 4096 + 3 * 4096 + 600
        let (_, _) = try connectionWithBytesWaiting(fixture, port: 43, total: total)
        let guest = fixture.guest
        let memory = guest.driver
        let a = memory.writable(VsockHeader.size + 4096)
        let pieces = (0..<6).map { _ in memory.writable(VsockHeader.size + 100) }
        let (b, c, d) = (memory.writable(VsockHeader.size + 4096), memory.writable(VsockHeader.size + 4096),
                         memory.writable(VsockHeader.size + 4096))
        let heads = [guest.rx.submit([a]), guest.rx.submit(pieces), guest.rx.submit([b]), guest.rx.submit([c]),
                     guest.rx.submit([d])]
        guest.rx.notify()
        // A alone (the 6-descriptor chain stopped its batch), then the chain with B and C.
        let used = guest.rx.takeUsed()
        let header = UInt32(VsockHeader.size)
        #expect(used.map { UInt16($0.id) } == Array(heads[0..<4]))
        #expect(used.map(\.length) == [header + 4096, header + 820, header + 4096, header + 3876])
        let chainBytes = pieces.flatMap { memory.bytes(of: $0) }
        let payloads = [Array(memory.bytes(of: a)[VsockHeader.size...]), Array(chainBytes[VsockHeader.size..<(VsockHeader.size + 820)]),
                        Array(memory.bytes(of: b)[VsockHeader.size...]), Array(memory.bytes(of: c)[VsockHeader.size..<(VsockHeader.size + 3876)])]
        let streamIntact = payloads.flatMap { $0 } == Array(vsockPattern(total)[4096...])
        #expect(streamIntact)
        #expect(fixture.device.counters.bytesToGuest == UInt64(total))
        #expect(fixture.device.counters.rejectedRxBuffers == 0)
    }
}
