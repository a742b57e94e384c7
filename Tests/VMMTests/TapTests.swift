import Devices
import Foundation
import Testing
@testable import VMM

/// A real TAP (this machine runs tests as root with /dev/net/tun). Frames cross between the
/// TAP descriptor and an AF_PACKET socket bound to the interface, so no IP set-up is needed.
@Suite(.serialized) struct TapTests {
    static let etherType: UInt16 = 0x88B5  // IEEE "local experimental"

    @Test func invalidNamesAreRefusedBeforeOpening() {
        for name in ["", "x/y", "with space", "a:b", String(repeating: "n", count: 16), ".."] {
            #expect(throws: TapError.invalidName(name)) { try Tap(name: name) }
        }
        #expect(Tap.isValidName(String(repeating: "n", count: 15)))
    }

    @Test func framesCrossARealTap() throws {
        let name = "kilntest\(getpid() % 100_000)"
        let tap: Tap
        do {
            tap = try Tap(name: name)
        } catch {
            Issue.record("cannot create TAP \(name) (needs /dev/net/tun and CAP_NET_ADMIN): \(error)")
            return
        }
        try tap.setOffloads([.checksum, .tso4, .tso6])
        try tap.setOffloads([])
        try run("/usr/sbin/ip", ["link", "set", "dev", name, "up"])
        let packet = try PacketSocket(interface: name, etherType: Self.etherType)

        // Host to guest: a frame sent on the interface comes out of the TAP behind a header.
        let hostFrame = ethernetFrame(payload: Array("from the host".utf8))
        try packet.send(hostFrame)
        let received = try readFrame(tap, matching: hostFrame)
        #expect(received.count == NetHeader.size + hostFrame.count)
        #expect(received.prefix(2) == [0, 0])  // no checksum or GSO work on this frame

        // Guest to host: header + frame written to the TAP reaches the interface.
        let guestFrame = ethernetFrame(payload: Array("from the guest".utf8))
        let header = [UInt8](repeating: 0, count: NetHeader.size)
        try send(tap, header + guestFrame)
        #expect(try packet.receive(timeoutMs: 2000) == guestFrame)

    }

    private func ethernetFrame(payload: [UInt8]) -> [UInt8] {
        let destination: [UInt8] = [0x06, 0x00, 0xAC, 0x10, 0x00, 0x02]
        let source: [UInt8] = [0x06, 0x00, 0xAC, 0x10, 0x00, 0x01]
        return destination + source + [UInt8(Self.etherType >> 8), UInt8(Self.etherType & 0xFF)] + payload
            + [UInt8](repeating: 0, count: max(0, 46 - payload.count))
    }

    private func send(_ tap: Tap, _ frame: [UInt8]) throws {
        var frame = frame
        try frame.withUnsafeMutableBytes { bytes in
            var vector = iovec(iov_base: bytes.baseAddress, iov_len: bytes.count)
            try withUnsafePointer(to: &vector) { try tap.send(UnsafeBufferPointer(start: $0, count: 1)) }
        }
    }

    /// Reads TAP frames (skipping the kernel's own IPv6 chatter) until `frame` comes, for 2 s.
    private func readFrame(_ tap: Tap, matching frame: [UInt8]) throws -> [UInt8] {
        let deadline = Date().addingTimeInterval(2)
        var buffer = [UInt8](repeating: 0, count: 65562)
        while Date() < deadline {
            var poller = pollfd(fd: tap.fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 else { throw TapTestError("poll: errno \(errno)") }
            let count = try buffer.withUnsafeMutableBytes { bytes in
                var vector = iovec(iov_base: bytes.baseAddress, iov_len: bytes.count)
                return try withUnsafePointer(to: &vector) { try tap.receive(into: UnsafeBufferPointer(start: $0, count: 1)) }
            }
            if let count, count >= NetHeader.size, Array(buffer[NetHeader.size..<count]) == frame {
                return Array(buffer[0..<count])
            }
        }
        throw TapTestError("the frame sent on the interface never came out of the TAP")
    }

    private func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TapTestError("\(tool) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
        }
    }
}

struct TapTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// An AF_PACKET socket bound to one interface and EtherType: the host side of the wire.
final class PacketSocket {
    let fd: Int32

    init(interface: String, etherType: UInt16) throws {
        let protocolBE = etherType.bigEndian
        fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(protocolBE))
        guard fd >= 0 else { throw TapTestError("AF_PACKET socket: errno \(errno)") }
        let index = if_nametoindex(interface)
        guard index > 0 else { throw TapTestError("if_nametoindex \(interface): errno \(errno)") }
        // struct sockaddr_ll: family u16, protocol be16, ifindex i32, hatype u16, pkttype u8,
        // halen u8, addr[8].
        var address = [UInt8](repeating: 0, count: 20)
        withUnsafeBytes(of: UInt16(AF_PACKET)) { address.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: protocolBE) { address.replaceSubrange(2..<4, with: $0) }
        withUnsafeBytes(of: Int32(index)) { address.replaceSubrange(4..<8, with: $0) }
        let bound = address.withUnsafeBytes {
            bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
        }
        guard bound == 0 else { throw TapTestError("bind AF_PACKET to \(interface): errno \(errno)") }
    }

    deinit { close(fd) }

    func send(_ frame: [UInt8]) throws {
        let sent = frame.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == frame.count else { throw TapTestError("AF_PACKET send: errno \(errno)") }
    }

    func receive(timeoutMs: Int32) throws -> [UInt8] {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMs) == 1 else { throw TapTestError("nothing reached the interface") }
        var buffer = [UInt8](repeating: 0, count: 2048)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw TapTestError("AF_PACKET recv: errno \(errno)") }
        return Array(buffer[0..<count])
    }
}
