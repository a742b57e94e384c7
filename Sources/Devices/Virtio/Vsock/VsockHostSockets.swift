import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// A failed socket call of the vsock backend, with the operation and errno.
public struct VsockSocketError: Error, Equatable, Sendable, CustomStringConvertible {
    public let operation: String
    public let errno: Int32
    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }
    public var description: String { "\(operation) failed (errno \(errno): \(String(cString: strerror(errno))))" }
}

/// The host side of the hybrid vsock model: non-blocking Unix stream sockets. Every call
/// here is one system call, so the device thread's seccomp filter can list exactly these.
enum VsockHostSockets {
    /// `sun_path` holds 108 bytes including the terminating NUL.
    static let maxPathLength = 107

    /// The listening socket at `path`, which must not exist yet unless as a stale socket (one
    /// nobody listens on). It appears there only once it listens (ListeningUnixSocket).
    static func listen(path: String) throws(VsockSocketError) -> Int32 {
        var address = sockaddr_un()
        guard fill(&address, path: Array(path.utf8), port: nil) else {
            throw VsockSocketError("vsock uds_path '\(path)' longer than \(maxPathLength) bytes:", errno: ENAMETOOLONG)
        }
        // A VMM killed with SIGKILL cannot remove its socket: its replacement takes it over.
        if StaleSocket.isStale(path) { unlink(path) }
        switch ListeningUnixSocket.create(at: path, backlog: 128) {
        case .success(let fd):
            return fd
        case .failure(let failure):
            throw VsockSocketError("\(failure.operation == .socket ? "socket(AF_UNIX) for" : failure.operation.rawValue) \(path)", errno: failure.errno)
        }
    }

    /// A non-blocking connection from the listener, or -errno (-EAGAIN when none is waiting).
    /// A client that vanished before accept is skipped: no error of ours.
    static func accept(_ listener: Int32) -> Int32 {
        while true {
            let fd = kiln_accept_nonblocking(listener)
            if fd >= 0 { return fd }
            if errno == EINTR || errno == ECONNABORTED { continue }
            return -errno
        }
    }

    /// Connects to `<path>_<port>`; the fd, or the errno (ECONNREFUSED, ENOENT: nobody listens).
    /// A Unix stream connect completes at once, or fails with EAGAIN when the backlog is full.
    static func connect(path: [UInt8], port: UInt32) -> Result<Int32, VsockSocketError> {
        var address = sockaddr_un()
        guard fill(&address, path: path, port: port) else { return .failure(VsockSocketError("connect", errno: ENAMETOOLONG)) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(VsockSocketError("socket(AF_UNIX)", errno: errno)) }
        while true {
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if result == 0 { return .success(fd) }
            if errno == EINTR { continue }
            let error = errno
            close(fd)
            return .failure(VsockSocketError("connect", errno: error))
        }
    }

    /// Writes `path` (and `_port` in decimal) as a NUL-terminated `sun_path`; false if too long.
    private static func fill(_ address: inout sockaddr_un, path: [UInt8], port: UInt32?) -> Bool {
        address.sun_family = sa_family_t(AF_UNIX)
        var digits: (UInt64, Int) = (0, 0)
        if let port {
            var value = port, count = 0, reversed: UInt64 = 0
            repeat { reversed = reversed * 10 + UInt64(value % 10); value /= 10; count += 1 } while value > 0
            digits = (reversed, count)
        }
        let length = path.count + (port == nil ? 0 : 1 + digits.1)
        guard !path.isEmpty, length <= maxPathLength, !path.contains(0) else { return false }
        return withUnsafeMutableBytes(of: &address.sun_path) { sunPath -> Bool in
            for (index, byte) in path.enumerated() { sunPath[index] = byte }
            var position = path.count
            if port != nil {
                sunPath[position] = UInt8(ascii: "_")
                position += 1
                var reversed = digits.0
                for _ in 0..<digits.1 {
                    sunPath[position] = UInt8(ascii: "0") + UInt8(reversed % 10)
                    reversed /= 10
                    position += 1
                }
            }
            sunPath[position] = 0
            return true
        }
    }

    /// Bytes moved, 0 at end of stream, or -errno (-EAGAIN when nothing is ready).
    static func read(_ fd: Int32, _ vectors: UnsafeMutableBufferPointer<iovec>) -> Int {
        while true {
            let result = readv(fd, vectors.baseAddress, Int32(vectors.count))
            if result >= 0 { return result }
            if errno != EINTR { return -Int(errno) }
        }
    }

    /// sendmsg with MSG_NOSIGNAL rather than writev: a host peer that has gone away must give
    /// EPIPE, not a SIGPIPE that would end the VMM.
    static func write(_ fd: Int32, _ vectors: UnsafeMutableBufferPointer<iovec>) -> Int {
        var message = msghdr()
        message.msg_iov = vectors.baseAddress
        message.msg_iovlen = vectors.count
        while true {
            let result = sendmsg(fd, &message, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            if result >= 0 { return result }
            if errno != EINTR { return -Int(errno) }
        }
    }

    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let result = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if result >= 0 { return result }
            if errno != EINTR { return -Int(errno) }
        }
    }

    static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int {
        var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: buffer.baseAddress), iov_len: buffer.count)
        return withUnsafeMutablePointer(to: &vector) { write(fd, UnsafeMutableBufferPointer(start: $0, count: 1)) }
    }

    static func shutdownWrite(_ fd: Int32) { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }
    static func close(_ fd: Int32) { _ = Glibc.close(fd) }
}
