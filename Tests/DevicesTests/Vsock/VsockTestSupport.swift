@testable import Devices
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

private let socketCounter = Atomic<Int>(0)

/// A fresh `uds_path` in /tmp, unique per test.
func temporarySocketPath() -> String {
    "/tmp/kiln-vsock-\(getpid())-\(socketCounter.add(1, ordering: .relaxed).newValue).sock"
}

/// The sockets this process has open, by inode (/proc/self/fd links `socket:[INODE]`). Other
/// suites run in parallel and open descriptors of their own, so a leak check compares the
/// sockets a test saw appear with those still open, not descriptor counts.
func openSocketInodes() -> Set<UInt64> {
    guard let directory = opendir("/proc/self/fd") else { return [] }
    defer { closedir(directory) }
    var inodes: Set<UInt64> = []
    var target = [CChar](repeating: 0, count: 64)
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let length = readlink("/proc/self/fd/" + name, &target, target.count - 1)
        guard length > 0 else { continue }
        let link = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if link.hasPrefix("socket:["), link.hasSuffix("]"), let inode = UInt64(link.dropFirst(8).dropLast()) {
            inodes.insert(inode)
        }
    }
    return inodes
}

/// Waits (up to 10 s: a closed socket may linger while the kernel finishes with it) until none
/// of `sockets` is open; returns those still open.
func socketsStillOpen(_ sockets: Set<UInt64>) -> Set<UInt64> {
    var open = sockets.intersection(openSocketInodes())
    for _ in 0..<100 where !open.isEmpty {
        usleep(100_000)
        open = sockets.intersection(openSocketInodes())
    }
    return open
}

/// A blocking host-side Unix stream socket with timeouts, playing a host application.
final class HostSocket {
    private(set) var fd: Int32

    init(fd: Int32) { self.fd = fd }

    /// Connects to `path`; nil when nobody listens.
    static func connect(_ path: String) -> HostSocket? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        precondition(fd >= 0)
        var address = sockaddr_un.make(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            Glibc.close(fd)
            return nil
        }
        return HostSocket(fd: fd)
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    func shutdownWrite() { _ = shutdown(fd, Int32(SHUT_WR)) }

    func write(_ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            precondition(n > 0, "host write failed (errno \(errno))")
            done += n
        }
    }

    func write(_ text: String) { write(Array(text.utf8)) }

    /// Writes what the socket takes without blocking; the count.
    func writeNonBlocking(_ bytes: [UInt8]) -> Int {
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress!, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        return max(n, 0)
    }

    /// Whatever arrives within `milliseconds` (at most `limit` bytes); nil at end of stream
    /// with nothing read.
    func read(limit: Int = 1 << 20, milliseconds: Int32 = 1000) -> [UInt8]? {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while result.count < limit {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, result.isEmpty ? milliseconds : 0) > 0 else { break }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, min($0.count, limit - result.count), 0) }
            if n <= 0 { return result.isEmpty ? nil : result }
            result += buffer[0..<n]
        }
        return result
    }

    /// True when the peer closed within `milliseconds`: end of stream, or ECONNRESET (a Unix
    /// socket closed with bytes it had not read).
    func seesEndOfStream(milliseconds: Int32 = 1000) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, milliseconds) > 0 else { return false }
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }
}

/// A host application listening on `<uds_path>_<port>` for guest-initiated connections.
final class HostListener {
    let fd: Int32
    let path: String

    init(path: String) {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un.make(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        precondition(bound == 0 && listen(fd, 512) == 0, "listen on \(path) failed (errno \(errno))")
    }

    deinit {
        close(fd)
        unlink(path)
    }

    func accept(milliseconds: Int32 = 1000) -> HostSocket? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, milliseconds) > 0 else { return nil }
        let client = Glibc.accept(fd, nil, nil)
        return client >= 0 ? HostSocket(fd: client) : nil
    }
}

extension sockaddr_un {
    static func make(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        precondition(bytes.count < 108)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
            raw[bytes.count] = 0
        }
        return address
    }
}

/// A vsock device at a fresh `uds_path`, a mock guest driving it, and a pumped event set.
final class VsockFixture {
    static let guestCID: UInt64 = 3
    let path: String
    let device: Vsock
    let guest: MockVsockGuest
    let events = EpollDeviceEvents()
    /// Packets received and not yet looked at by the test.
    var inbox: [MockVsockGuest.Packet] = []

    init(bufferAllocation: UInt32 = Vsock.defaultBufferAllocation, maxConnections: Int = Vsock.defaultMaxConnections,
         rxBuffers: Int = 64, accept: @escaping (Int32) -> Int32 = VsockHostSockets.accept) throws {
        path = temporarySocketPath()
        device = try Vsock(guestCID: Self.guestCID, udsPath: path, bufferAllocation: bufferAllocation,
                           maxConnections: maxConnections, accept: accept)
        guest = MockVsockGuest(device: device, cid: Self.guestCID)
        events.transport = guest.driver.transport
        try device.connect(events: events)
        guest.postRxBuffers(rxBuffers)
    }

    /// Pumps the device's sockets until a received packet matches; returns it (and leaves the
    /// others in `inbox`).
    func expectPacket(milliseconds: Int = 2000, _ matches: (MockVsockGuest.Packet) -> Bool) -> MockVsockGuest.Packet? {
        var found: MockVsockGuest.Packet?
        events.pump(until: {
            inbox += guest.receive()
            if let index = inbox.firstIndex(where: matches) {
                found = inbox.remove(at: index)
                return true
            }
            return false
        }, milliseconds: milliseconds)
        return found
    }

    /// Pumps a little and returns everything that arrived.
    func drain(milliseconds: Int32 = 50) -> [MockVsockGuest.Packet] {
        while events.pump(milliseconds: milliseconds) > 0 {}
        inbox += guest.receive()
        defer { inbox = [] }
        return inbox
    }

    /// A host client through `uds_path` joined to guest port `port`; returns the client and
    /// the host port the device assigned.
    func openFromHost(port: UInt32) -> (HostSocket, UInt32)? {
        guard let client = HostSocket.connect(path) else { return nil }
        client.write("CONNECT \(port)\n")
        guard let request = expectPacket(milliseconds: 2000, { $0.op == .request && $0.header.destinationPort == port }) else { return nil }
        let hostPort = request.header.sourcePort
        guest.send(guest.header(.response, port: port, hostPort: hostPort))
        guard let line = client.read(limit: 32), line == Array("OK \(hostPort)\n".utf8) else { return nil }
        return (client, hostPort)
    }

    /// A guest connection from `port` to a host listener on `<uds_path>_<hostPort>`.
    func openFromGuest(port: UInt32, hostPort: UInt32, listener: HostListener) -> HostSocket? {
        guest.send(guest.header(.request, port: port, hostPort: hostPort))
        guard expectPacket(milliseconds: 2000, { $0.op == .response && $0.header.destinationPort == port }) != nil else { return nil }
        return listener.accept()
    }

    /// RW payloads from `hostPort` to guest `port` until `count` bytes arrived.
    func receiveData(port: UInt32, hostPort: UInt32, count: Int, milliseconds: Int = 3000) -> [UInt8] {
        var data: [UInt8] = []
        events.pump(until: {
            inbox += guest.receive()
            inbox.removeAll { packet in
                guard packet.op == .rw, packet.header.destinationPort == port, packet.header.sourcePort == hostPort else {
                    return false
                }
                data += packet.payload
                return true
            }
            return data.count >= count
        }, milliseconds: milliseconds)
        return data
    }
}
