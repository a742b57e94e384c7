#if canImport(Glibc)
import Glibc
#endif

/// Frames over one connected stream socket (vsock, Unix socket, socketpair). Does not own the
/// descriptor. Sends block until written (MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE).
public struct FrameChannel: ~Copyable {
    public let fd: Int32
    public private(set) var decoder = FrameDecoder()
    private var peerClosed = false

    public init(fd: Int32) { self.fd = fd }

    public func send(_ message: Message) throws(ProtocolError) {
        try FrameChannel.sendAll(fd: fd, FrameCodec.encode(message))
    }

    public static func sendAll(fd: Int32, _ bytes: [UInt8]) throws(ProtocolError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { waitWritable(fd); continue }
                throw .io(operation: "send", errno: errno)
            }
            offset += n
        }
    }

    /// Blocks until the next message; nil when the peer closed the stream at a frame boundary.
    public mutating func receive() throws(ProtocolError) -> Message? {
        while true {
            if let message = try decoder.next() { return message }
            if peerClosed { try decoder.finish(); return nil }
            try readAvailable()
        }
    }

    /// One read of what is there (call when poll says readable, or to block for more).
    /// Returns false once the peer has closed the stream.
    @discardableResult
    public mutating func readAvailable() throws(ProtocolError) -> Bool {
        // A stack buffer: no allocation per read on the streaming path.
        let n = withUnsafeTemporaryAllocation(byteCount: 64 * 1024, alignment: 1) { raw in
            let n = Glibc.read(fd, raw.baseAddress, raw.count)
            if n > 0 { decoder.append(UnsafeRawBufferPointer(rebasing: raw[0..<n])) }
            return n
        }
        if n < 0 {
            if errno == EINTR { return true }
            // EAGAIN on a blocking socket is SO_RCVTIMEO expiring: the peer is not answering.
            if errno == EAGAIN {
                if fcntl(fd, F_GETFL) & O_NONBLOCK != 0 { return true }
                throw .io(operation: "read (timed out)", errno: EAGAIN)
            }
            // A peer that closes with our bytes still unread resets the stream (Unix sockets,
            // vsock): for the protocol that is the end of the stream, judged like an EOF.
            if errno == ECONNRESET { peerClosed = true; return false }
            throw .io(operation: "read", errno: errno)
        }
        if n == 0 { peerClosed = true; return false }
        return true
    }

    /// A message already buffered (after readAvailable), nil if none is complete. At end of
    /// stream throws when the stream ended inside a frame.
    public mutating func nextBuffered() throws(ProtocolError) -> Message? {
        if let message = try decoder.next() { return message }
        if peerClosed { try decoder.finish() }
        return nil
    }

    public var isPeerClosed: Bool { peerClosed }

    private static func waitWritable(_ fd: Int32) {
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&p, 1, -1)
    }
}
