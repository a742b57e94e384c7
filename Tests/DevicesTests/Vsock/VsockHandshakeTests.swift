import Devices
import Glibc
import TestSupport
import Testing

@Suite struct VsockHandshakeTests {
    @Test func identityAndConfigSpace() throws {
        let fixture = try VsockFixture()
        let driver = fixture.guest.driver
        #expect(driver.read(MMIORegister.deviceID) == 19)
        #expect(driver.deviceFeatures == VirtioFeature.transportFeatures)
        #expect(driver.deviceFeatures & VirtioFeature.version1 != 0)
        #expect(driver.transport.queueCount == 3)
        #expect(driver.readConfig(0, count: 8) == [3, 0, 0, 0, 0, 0, 0, 0])
        #expect(driver.readConfig(4, count: 4) == [0, 0, 0, 0])
        #expect(fixture.device.guestCID == 3)
    }

    @Test func hostInitiatedConnectionIsAcceptedByTheGuest() throws {
        let fixture = try VsockFixture()
        let client = try #require(HostSocket.connect(fixture.path))
        client.write("CONNECT 5000\n")
        let request = try #require(fixture.expectPacket { $0.op == .request })
        #expect(request.header.sourceCID == VsockHeader.hostCID)
        #expect(request.header.destinationCID == 3)
        #expect(request.header.destinationPort == 5000)
        #expect(request.header.sourcePort >= 1 << 30)
        #expect(request.header.type == VsockHeader.typeStream)
        #expect(request.header.length == 0)
        #expect(request.header.bufferAllocation == Vsock.defaultBufferAllocation)
        // Nothing reaches the client before the guest answers.
        #expect(client.read(milliseconds: 50) == [])
        let guest = fixture.guest
        guest.send(guest.header(.response, port: 5000, hostPort: request.header.sourcePort))
        #expect(client.read(limit: 32) == Array("OK \(request.header.sourcePort)\n".utf8))
        #expect(fixture.device.connectionCount == 1)
        #expect(fixture.device.counters.connectionsOpened == 1)
    }

    @Test func hostPortsAreAssignedUniquely() throws {
        let fixture = try VsockFixture()
        let first = try #require(fixture.openFromHost(port: 80))
        let second = try #require(fixture.openFromHost(port: 80))
        #expect(first.1 != second.1)
        #expect(second.1 == first.1 + 1)
    }

    @Test func guestRefusalClosesTheHostClient() throws {
        let fixture = try VsockFixture()
        let client = try #require(HostSocket.connect(fixture.path))
        client.write("CONNECT 7\n")
        let request = try #require(fixture.expectPacket { $0.op == .request })
        fixture.guest.send(fixture.guest.header(.rst, port: 7, hostPort: request.header.sourcePort))
        #expect(client.seesEndOfStream())
        #expect(fixture.device.connectionCount == 0)
        #expect(fixture.drain().isEmpty)  // a RST is never answered
    }

    @Test(arguments: ["CONNECT\n", "CONNECT x1\n", "CONNECT 4294967296\n", "connect 5\n", "CONNECT -1\n",
                      "CONNECT 5 \n", "GET / HTTP/1.1\n", String(repeating: "A", count: 40)])
    func malformedConnectLineClosesTheClient(line: String) throws {
        let fixture = try VsockFixture()
        let client = try #require(HostSocket.connect(fixture.path))
        client.write(line)
        #expect(fixture.drain().isEmpty)
        #expect(client.seesEndOfStream())
        #expect(fixture.device.connectionCount == 0)
    }

    @Test func clientLeavingBeforeConnectIsForgotten() throws {
        let fixture = try VsockFixture()
        var client = HostSocket.connect(fixture.path)
        fixture.events.pump(milliseconds: 50)
        #expect(fixture.device.connectionCount == 1)
        client?.write("CONN")
        client = nil
        fixture.events.pump(until: { fixture.device.connectionCount == 0 })
        #expect(fixture.device.connectionCount == 0)
        _ = client
    }

    @Test func guestInitiatedConnectionReachesTheHostListener() throws {
        let fixture = try VsockFixture()
        let listener = HostListener(path: fixture.path + "_1025")
        let guest = fixture.guest
        guest.send(guest.header(.request, port: 40000, hostPort: 1025))
        let response = try #require(fixture.expectPacket { $0.op == .response })
        #expect(response.header.sourcePort == 1025)
        #expect(response.header.destinationPort == 40000)
        #expect(response.header.sourceCID == 2 && response.header.destinationCID == 3)
        #expect(listener.accept() != nil)
    }

    @Test func guestConnectionToAPortNobodyListensOnIsReset() throws {
        let fixture = try VsockFixture()
        let guest = fixture.guest
        guest.send(guest.header(.request, port: 40001, hostPort: 9999))
        let reset = try #require(fixture.expectPacket { _ in true })
        #expect(reset.op == .rst)
        #expect(reset.header.sourcePort == 9999 && reset.header.destinationPort == 40001)
        #expect(fixture.device.counters.connectionsRefused == 1)
        #expect(fixture.device.connectionCount == 0)
    }

    @Test func listeningSocketIsRemovedWithTheDevice() throws {
        var fixture: VsockFixture? = try VsockFixture()
        let path = fixture!.path
        #expect(HostSocket.connect(path) != nil)
        fixture = nil
        #expect(HostSocket.connect(path) == nil)
        // The path is free again for the next VMM.
        let again = try Vsock(guestCID: 3, udsPath: path)
        _ = again
    }

    @Test func existingSocketPathIsRefused() throws {
        let fixture = try VsockFixture()
        #expect(throws: VsockSocketError.self) { try Vsock(guestCID: 4, udsPath: fixture.path) }
    }

    /// What a VMM killed with SIGKILL leaves (a socket file nobody listens on) is taken over by
    /// the next device on that path; any other file there is refused and kept.
    @Test func aStaleSocketIsTakenOverAndAnyOtherFileRefused() throws {
        let path = temporarySocketPath()
        defer { unlink(path) }
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un.make(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(stale)
        #expect(StaleSocket.isStale(path))
        let device = try Vsock(guestCID: 3, udsPath: path)
        #expect(HostSocket.connect(path) != nil, "the new device listens on the taken-over path")
        _ = device

        let file = temporarySocketPath()
        defer { unlink(file) }
        #expect(creat(file, 0o600) >= 0)
        #expect(throws: VsockSocketError.self) { try Vsock(guestCID: 4, udsPath: file) }
        var info = stat()
        #expect(lstat(file, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG)
    }
}
