@testable import Devices
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// accept4 that fails with a chosen errno while told to: the VMM out of descriptors, without
/// lowering RLIMIT_NOFILE under the other tests of this process.
final class FailingAccept: Sendable {
    private let error = Atomic<Int32>(0)
    private let failureCount = Atomic<Int>(0)

    var failures: Int { failureCount.load(ordering: .relaxed) }
    func fail(with errno: Int32) { error.store(errno, ordering: .relaxed) }
    func succeed() { error.store(0, ordering: .relaxed) }

    func accept(_ listener: Int32) -> Int32 {
        let error = error.load(ordering: .relaxed)
        guard error == 0 else {
            failureCount.add(1, ordering: .relaxed)
            return -error
        }
        return VsockHostSockets.accept(listener)
    }
}

/// A client left in the listener's backlog keeps it readable: when accept cannot take it (no
/// descriptors), the device loop must stop asking until a descriptor is freed or a retry is due,
/// not call the listener's handler thousands of times a second.
@Suite struct VsockAcceptSpinTests {
    static let loopMilliseconds = 200
    static let maxCalls = 3

    static func handlerCalls(_ fixture: VsockFixture) -> Int { fixture.events.handlerCalls.values.reduce(0, +) }

    /// Connects a client that sends its CONNECT line and waits in the backlog while accept
    /// fails; checks the loop stayed quiet meanwhile.
    static func clientWaitingWhileAcceptFails(_ fixture: VsockFixture, _ accept: FailingAccept, errno: Int32,
                                              port: UInt32) throws -> HostSocket {
        accept.fail(with: errno)
        let before = handlerCalls(fixture)
        let client = try #require(HostSocket.connect(fixture.path))
        client.write("CONNECT \(port)\n")
        fixture.events.run(milliseconds: loopMilliseconds)
        #expect(accept.failures >= 1)
        #expect(fixture.device.counters.acceptsDeferred >= 1)
        #expect(handlerCalls(fixture) - before <= maxCalls)
        #expect(fixture.device.connectionCount <= 1)
        return client
    }

    @Test(arguments: [EMFILE, ENFILE])
    func retryAcceptsTheWaitingClient(errno: Int32) throws {
        let accept = FailingAccept()
        let fixture = try VsockFixture(accept: accept.accept)
        let client = try Self.clientWaitingWhileAcceptFails(fixture, accept, errno: errno, port: 5000)
        #expect(fixture.device.connectionCount == 0)

        // No connection closes: the retry timer alone lets the client in.
        accept.succeed()
        let request = fixture.expectPacket(milliseconds: 3000) { $0.op == .request && $0.header.destinationPort == 5000 }
        let hostPort = try #require(request).header.sourcePort
        fixture.guest.send(fixture.guest.header(.response, port: 5000, hostPort: hostPort))
        #expect(client.read(limit: 32) == Array("OK \(hostPort)\n".utf8))
    }

    @Test func closedConnectionAcceptsTheWaitingClient() throws {
        let accept = FailingAccept()
        let fixture = try VsockFixture(accept: accept.accept)
        let (first, firstHostPort) = try #require(fixture.openFromHost(port: 5000))
        _ = fixture.drain()
        let waiting = try Self.clientWaitingWhileAcceptFails(fixture, accept, errno: EMFILE, port: 5001)
        #expect(fixture.device.connectionCount == 1)

        // The guest resets the first connection: its descriptor is freed, and the waiting
        // client is taken at once, well before any retry timer.
        accept.succeed()
        let clock = ContinuousClock()
        let start = clock.now
        fixture.guest.send(fixture.guest.header(.rst, port: 5000, hostPort: firstHostPort))
        #expect(first.seesEndOfStream())
        let request = fixture.expectPacket(milliseconds: 3000) { $0.op == .request && $0.header.destinationPort == 5001 }
        #expect(clock.now - start < .milliseconds(Int(VsockMuxer.acceptRetryNanoseconds / 1_000_000)))
        let hostPort = try #require(request).header.sourcePort
        fixture.guest.send(fixture.guest.header(.response, port: 5001, hostPort: hostPort))
        #expect(waiting.read(limit: 32) == Array("OK \(hostPort)\n".utf8))
    }
}
