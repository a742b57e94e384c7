import AgentProtocol
import CHost
import Glibc

/// Where the agent can be reached from the host.
public enum AgentEndpoint: Sendable, Equatable {
    /// Firecracker's hybrid vsock: the VMM's Unix socket; the host writes `CONNECT <port>\n` and
    /// reads `OK <host port>\n` before the stream reaches the guest's listener.
    case hybridVsock(udsPath: String)
    /// The host kernel's vsock (vhost-vsock, as QEMU provides): connect to (cid, port) directly.
    case vsock(cid: UInt32)

    /// A connected stream to the agent's port. The caller closes it. With a `deadline`
    /// (monotonic seconds) the connect and the hybrid handshake give up when it passes, and
    /// blocking reads and writes on the returned stream time out then too (SO_RCVTIMEO /
    /// SO_SNDTIMEO; `FrameChannel` enforces the deadline itself as well).
    public func connect(port: UInt32 = FrameLimits.agentPort, deadline: Double? = nil) throws(SandboxError) -> Int32 {
        if let deadline, MonotonicClock.now() >= deadline {
            throw .protocolError(.timedOut("connecting to the agent"))
        }
        switch self {
        case .vsock(let cid):
            let fd = kiln_vsock_connect(cid, port)
            guard fd >= 0 else { throw .local(operation: "connect to vsock \(cid):\(port)", errno: errno) }
            if let deadline { Self.setTimeout(fd: fd, until: deadline) }
            return fd
        case .hybridVsock(let path):
            return try Self.connectHybrid(path: path, port: port, deadline: deadline)
        }
    }

    /// Socket timeouts for what is left until `deadline`: a blocking call cannot outlast it.
    private static func setTimeout(fd: Int32, until deadline: Double) {
        let left = max(0.001, deadline - MonotonicClock.now())
        var value = timeval(tv_sec: Int(left), tv_usec: Int((left - left.rounded(.down)) * 1_000_000))
        if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1000 }   // 0 would mean "no timeout"
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    private static func connectHybrid(path: String, port: UInt32, deadline: Double?) throws(SandboxError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .local(operation: "socket", errno: errno) }
        if let deadline { setTimeout(fd: fd, until: deadline) }
        guard var address = UnixSocketAddress.make(path) else {
            close(fd)
            throw .local(operation: "vsock socket path \(path) is longer than \(UnixSocketAddress.capacity - 1) bytes",
                         errno: ENAMETOOLONG)
        }
        let connected = UnixSocketAddress.with(&address) { Glibc.connect(fd, $0, $1) }
        guard connected == 0 else {
            let e = errno
            close(fd)
            if e == EAGAIN, deadline != nil { throw .protocolError(.timedOut("connecting to \(path)")) }
            throw .local(operation: "connect \(path)", errno: e)
        }
        do throws(SandboxError) {
            try wrap { () throws(ProtocolError) in
                try FrameChannel.sendAll(fd: fd, Array("CONNECT \(port)\n".utf8), deadline: deadline)
            }
            let reply = try readLine(fd: fd, deadline: deadline)
            guard reply.hasPrefix("OK ") else {
                throw .protocolError(.unexpectedMessage("vsock handshake answer '\(reply)'"))
            }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// One short line, read a byte at a time so nothing after it is consumed.
    private static func readLine(fd: Int32, deadline: Double?) throws(SandboxError) -> String {
        var line: [UInt8] = []
        while line.count < 64 {
            let ready = try wrap { () throws(ProtocolError) in try FrameChannel.wait(fd, for: Int16(POLLIN), until: deadline) }
            guard ready else { throw .protocolError(.timedOut("waiting for the vsock handshake answer")) }
            var byte: UInt8 = 0
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { throw .protocolError(.timedOut("waiting for the vsock handshake answer")) }
            if n < 0 { throw .local(operation: "read vsock handshake", errno: errno) }
            if n == 0 { throw .protocolError(.closedByPeer("during the vsock handshake (no listener on the port yet?)")) }
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        throw .protocolError(.unexpectedMessage("vsock handshake line longer than 64 bytes"))
    }
}
