#if canImport(Glibc)
import Glibc
#endif

/// Frames over one connected stream socket (vsock, Unix socket, socketpair). Does not own the
/// descriptor. Sends block until written (MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE).
///
/// With a `deadline` (monotonic seconds, `MonotonicClock`) no read or write waits past it: the
/// peer may be a hostile guest that stalls or trickles bytes, and a per-call socket timeout
/// would let it stretch an operation for ever one byte at a time.
public struct FrameChannel: ~Copyable {
    public let fd: Int32
    public private(set) var decoder = FrameDecoder()
    private var peerClosed = false
    /// No wait goes past this (monotonic seconds); nil: no overall limit.
    public var deadline: Double?
    /// No single wait for the peer lasts longer than this many seconds (a stalled peer);
    /// nil: only `deadline` applies.
    public var stallTimeout: Double?

    public init(fd: Int32, deadline: Double? = nil, stallTimeout: Double? = nil) {
        self.fd = fd
        self.deadline = deadline
        self.stallTimeout = stallTimeout
    }

    /// When the current wait must end: the earlier of the deadline and the stall limit.
    public var waitDeadline: Double? {
        guard let stallTimeout else { return deadline }
        let stall = MonotonicClock.now() + stallTimeout
        return deadline.map { min($0, stall) } ?? stall
    }

    public func send(_ message: Message) throws(ProtocolError) {
        try FrameChannel.sendAll(fd: fd, FrameCodec.encode(message), deadline: waitDeadline)
    }

    public static func sendAll(fd: Int32, _ bytes: [UInt8], deadline: Double? = nil) throws(ProtocolError) {
        var offset = 0
        let flags = Int32(MSG_NOSIGNAL) | (deadline == nil ? 0 : Int32(MSG_DONTWAIT))
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, flags)
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {
                    // SO_SNDTIMEO expiring on a blocking socket also lands here.
                    guard try wait(fd, for: Int16(POLLOUT), until: deadline) else {
                        throw .timedOut("sending to the peer (it stopped reading)")
                    }
                    continue
                }
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
        if let until = waitDeadline, !(try Self.wait(fd, for: Int16(POLLIN), until: until)) {
            throw .timedOut("waiting for the peer")
        }
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
                throw .timedOut("waiting for the peer (no answer within the socket timeout)")
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

    /// Waits until `fd` is ready for `events` or `deadline` passes (nil: no limit). False when
    /// the deadline passed first. An error or hang-up counts as ready: the next call reports it.
    public static func wait(_ fd: Int32, for events: Int16, until deadline: Double?) throws(ProtocolError) -> Bool {
        while true {
            var p = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&p, 1, MonotonicClock.milliseconds(until: deadline))
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { throw .io(operation: "poll", errno: errno) }
            if ready == 0, let deadline, MonotonicClock.now() >= deadline { return false }
        }
    }
}

/// CLOCK_MONOTONIC in seconds, the clock of every deadline in the protocol code.
public enum MonotonicClock {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Milliseconds left until `deadline` for poll(2): -1 without one, 0 once it has passed.
    public static func milliseconds(until deadline: Double?) -> Int32 {
        guard let deadline else { return -1 }
        let left = (deadline - now()) * 1000
        if left <= 0 { return 0 }
        return Int32(min(left.rounded(.up), Double(Int32.max)))
    }
}
