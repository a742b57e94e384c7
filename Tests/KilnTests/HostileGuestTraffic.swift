import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Host-side traffic towards an idle hostile guest whose receive queues hold no buffers: the
/// host descriptors stay readable, and a device that keeps polling them instead of waiting for
/// the guest's next kick spins.
enum HostileGuestTraffic {
    /// Brings TAP `name` up and sends `count` broadcast Ethernet frames out of it (into kiln).
    static func sendFrames(toTAP name: String, count: Int) throws {
        let up = try KilnProcess.execute("/usr/sbin/ip", ["link", "set", "dev", name, "up"], timeout: 10)
        guard up.status == 0 else { throw KilnTestError("ip link set \(name) up: \(up.stderr)") }
        let index = if_nametoindex(name)
        guard index != 0 else { throw KilnTestError("no interface \(name)") }
        let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0)
        guard fd >= 0 else { throw KilnTestError("AF_PACKET socket: errno \(errno)") }
        defer { close(fd) }
        // struct sockaddr_ll: family, protocol (big-endian), ifindex, hatype, pkttype, halen, addr[8].
        var address = [UInt8](repeating: 0, count: 20)
        withUnsafeBytes(of: UInt16(AF_PACKET)) { address.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: UInt16(0x88B5).bigEndian) { address.replaceSubrange(2..<4, with: $0) }
        withUnsafeBytes(of: Int32(index)) { address.replaceSubrange(4..<8, with: $0) }
        address[11] = 6
        // Broadcast, a local source, the IEEE local-experimental EtherType, zero payload.
        var frame = [UInt8](repeating: 0xFF, count: 6) + [0x02, 0, 0, 0, 0, 1, 0x88, 0xB5]
        frame += [UInt8](repeating: 0, count: 60 - frame.count)
        for _ in 0..<count {
            let sent = frame.withUnsafeBytes { bytes in
                address.withUnsafeBytes { sendto(fd, bytes.baseAddress, bytes.count, 0,
                                                 $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 20) }
            }
            guard sent == frame.count else { throw KilnTestError("sendto \(name): errno \(errno)") }
        }
    }

    /// Connects to kiln's vsock socket, asks for guest port 5000 and sends data; the returned
    /// descriptor keeps the connection open until closed.
    static func connectVsock(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw KilnTestError("unix socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw KilnTestError("connect \(path): errno \(errno)")
        }
        let message = Array("CONNECT 5000\n".utf8) + [UInt8](repeating: 0x61, count: 4096)
        _ = message.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        return fd
    }
}
