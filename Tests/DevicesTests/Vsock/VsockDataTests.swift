import Devices
import TestSupport
import Testing

/// A deterministic byte pattern, so reordering or loss shows.
func vsockPattern(_ count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 31) ^ ($0 >> 8) &+ seed) }
}

@Suite struct VsockDataTests {
    @Test func dataBothWaysOnAHostInitiatedConnection() throws {
        let fixture = try VsockFixture()
        let (client, hostPort) = try #require(fixture.openFromHost(port: 5000))
        let guest = fixture.guest
        let toGuest = vsockPattern(100_000)
        client.write(toGuest)
        #expect(fixture.receiveData(port: 5000, hostPort: hostPort, count: toGuest.count) == toGuest)
        let toHost = vsockPattern(3000, seed: 7)
        guest.send(guest.header(.rw, port: 5000, hostPort: hostPort, length: 3000), payload: toHost)
        #expect(client.read(limit: 3000) == toHost)
        #expect(fixture.device.counters.bytesToHost == 3000)
        #expect(fixture.device.counters.bytesToGuest == UInt64(toGuest.count))
    }

    @Test func bytesSentBeforeTheGuestAcceptsAreDeliveredAfterIt() throws {
        let fixture = try VsockFixture()
        let client = try #require(HostSocket.connect(fixture.path))
        client.write("CONNECT 6000\nearly bytes")
        let request = try #require(fixture.expectPacket { $0.op == .request })
        #expect(fixture.drain().isEmpty)  // no data before RESPONSE
        fixture.guest.send(fixture.guest.header(.response, port: 6000, hostPort: request.header.sourcePort))
        #expect(fixture.receiveData(port: 6000, hostPort: request.header.sourcePort, count: 11) == Array("early bytes".utf8))
    }

    @Test func dataBothWaysOnAGuestInitiatedConnection() throws {
        let fixture = try VsockFixture()
        let listener = HostListener(path: fixture.path + "_52")
        let host = try #require(fixture.openFromGuest(port: 1234, hostPort: 52, listener: listener))
        let guest = fixture.guest
        // Split header and a payload in its own descriptor, as Linux sends them.
        let message = vsockPattern(65536)
        message.withUnsafeBytes {
            guest.send(guest.header(.rw, port: 1234, hostPort: 52, length: 65536), payload: $0, splitHeader: true)
        }
        #expect(host.read(limit: 65536) == message)
        host.write(Array("pong".utf8))
        #expect(fixture.receiveData(port: 1234, hostPort: 52, count: 4) == Array("pong".utf8))
    }

    @Test func rxPacketsRespectBufferSizeAndMaximumPayload() throws {
        let fixture = try VsockFixture(rxBuffers: 0)
        fixture.guest.postRxBuffers(8, size: VsockHeader.size + 100)
        let (client, hostPort) = try #require(fixture.openFromHost(port: 9))
        client.write(vsockPattern(1000))
        let data = fixture.receiveData(port: 9, hostPort: hostPort, count: 1000)
        #expect(data == vsockPattern(1000))
        #expect(fixture.inbox.isEmpty)
    }

    /// The guest stops reading (no fwd_cnt progress): the device sends exactly the guest's
    /// buf_alloc and leaves the rest in the host socket, whatever RX buffers are available.
    @Test func hostToGuestStopsAtTheGuestsCredit() throws {
        let fixture = try VsockFixture()
        let guest = fixture.guest
        guest.bufferAllocation = 8192
        guest.autoForward = false
        let (client, hostPort) = try #require(fixture.openFromHost(port: 77))
        let sent = client.writeNonBlocking(vsockPattern(100_000))
        #expect(sent > 16384)
        var data = fixture.receiveData(port: 77, hostPort: hostPort, count: 8192)
        #expect(data.count == 8192)
        #expect(fixture.drain().filter { $0.op == .rw }.isEmpty)
        #expect(guest.postedRxCount > 0)
        // The guest read 4096 bytes: a credit update lets exactly that much more through.
        guest.forwardCounts[UInt64(77) << 32 | UInt64(hostPort)] = 4096
        guest.send(guest.header(.creditUpdate, port: 77, hostPort: hostPort))
        data += fixture.receiveData(port: 77, hostPort: hostPort, count: 4096)
        #expect(data.count == 12288)
        #expect(fixture.drain().filter { $0.op == .rw }.isEmpty)
        #expect(data == Array(vsockPattern(100_000)[0..<12288]))
    }

    /// The host stops reading: the device takes what the host socket accepts plus at most its
    /// own buf_alloc, and the guest (tracking credit) stops; when the host reads again
    /// everything arrives in order and credit comes back.
    @Test func guestToHostIsBoundedWhenTheHostStopsReading() throws {
        let allocation: UInt32 = 16384
        let fixture = try VsockFixture(bufferAllocation: allocation)
        let listener = HostListener(path: fixture.path + "_80")
        let host = try #require(fixture.openFromGuest(port: 500, hostPort: 80, listener: listener))
        let guest = fixture.guest
        var sent: [UInt8] = []
        var deviceForwardCount: UInt32 = 0
        var credit: Int { Int(allocation) - (sent.count - Int(deviceForwardCount)) }
        func updateCredit() {
            for packet in fixture.drain(milliseconds: 1) where packet.header.destinationPort == 500 {
                deviceForwardCount = max(deviceForwardCount, packet.header.forwardCount)
            }
        }
        // Send while credit lasts; the host never reads.
        var rounds = 0
        while rounds < 2000 {
            updateCredit()
            guard credit > 0 else { break }
            let chunk = vsockPattern(min(credit, 4096), seed: sent.count)
            guest.send(guest.header(.rw, port: 500, hostPort: 80, length: UInt32(chunk.count)), payload: chunk)
            sent += chunk
            rounds += 1
        }
        #expect(credit == 0)
        let accepted = sent.count
        #expect(accepted >= Int(allocation))
        // The guest, at zero credit, asks; the device answers with the same fwd_cnt.
        guest.send(guest.header(.creditRequest, port: 500, hostPort: 80))
        let update = try #require(fixture.expectPacket { $0.op == .creditUpdate })
        #expect(Int(update.header.forwardCount) == accepted - Int(allocation))
        #expect(fixture.device.counters.creditViolations == 0)
        // Now the host reads everything, in order, and credit returns.
        var received: [UInt8] = []
        while received.count < accepted {
            guard let chunk = host.read(limit: accepted - received.count, milliseconds: 200) else { break }
            received += chunk
            fixture.events.pump(milliseconds: 10)
        }
        #expect(received == sent)
        updateCredit()
        #expect(Int(deviceForwardCount) == accepted)
    }

    /// While nothing waits for the host socket, the host reading it wakes nobody: writability
    /// is watched only while guest bytes are pending.
    @Test func hostReadsDoNotWakeTheDeviceWhenNothingIsPending() throws {
        let fixture = try VsockFixture()
        let listener = HostListener(path: fixture.path + "_81")
        let host = try #require(fixture.openFromGuest(port: 501, hostPort: 81, listener: listener))
        let guest = fixture.guest
        for round in 0..<5 {
            let chunk = vsockPattern(8192, seed: round)
            guest.send(guest.header(.rw, port: 501, hostPort: 81, length: 8192), payload: chunk)
            #expect(host.read(limit: 8192) == chunk)
            #expect(fixture.events.pump(milliseconds: 20) == 0)
        }
    }

    @Test func sendingBeyondCreditResetsTheConnection() throws {
        let allocation: UInt32 = 8192
        let fixture = try VsockFixture(bufferAllocation: allocation)
        let listener = HostListener(path: fixture.path + "_81")
        let host = try #require(fixture.openFromGuest(port: 501, hostPort: 81, listener: listener))
        let guest = fixture.guest
        // Far more than the host socket and the device's buffer can take, never reading.
        for _ in 0..<200 {
            guest.send(guest.header(.rw, port: 501, hostPort: 81, length: 65536), payload: vsockPattern(65536))
            if fixture.device.counters.creditViolations > 0 { break }
        }
        #expect(fixture.device.counters.creditViolations == 1)
        #expect(fixture.expectPacket { $0.op == .rst && $0.header.destinationPort == 501 } != nil)
        #expect(fixture.device.connectionCount == 0)
        _ = host
    }
}
