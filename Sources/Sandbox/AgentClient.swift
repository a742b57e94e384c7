import AgentProtocol
import Glibc

/// How long an agent session may take. The agent is hostile as seen from the host: it may
/// stall at any step or trickle bytes, so every wait has an end.
public struct SessionLimits: Sendable, Equatable {
    /// Nothing of the session waits past this (monotonic seconds, `MonotonicClock`); nil: no
    /// overall limit (a command may run as long as it likes).
    public var deadline: Double?
    /// The hello exchange must be over within this many seconds of the session's start.
    public var setupTimeout: Double
    /// A file copy fails when the agent sends or accepts nothing for this many seconds.
    public var stallTimeout: Double

    public init(deadline: Double? = nil, setupTimeout: Double = 30, stallTimeout: Double = 60) {
        self.deadline = deadline
        self.setupTimeout = setupTimeout
        self.stallTimeout = stallTimeout
    }

    /// A deadline `seconds` from now, or none.
    public static func within(_ seconds: Double?) -> SessionLimits {
        SessionLimits(deadline: seconds.map { MonotonicClock.now() + $0 })
    }

    /// The deadline has passed.
    public var hasExpired: Bool { deadline.map { MonotonicClock.now() >= $0 } ?? false }

    /// The earlier of the deadline and `seconds` from now.
    func deadline(within seconds: Double) -> Double {
        let limit = MonotonicClock.now() + seconds
        return deadline.map { min($0, limit) } ?? limit
    }
}

/// The host side of one agent session over a connected stream socket (the vsock UDS after
/// `CONNECT`, or a socketpair in tests). One request per connection, as the protocol says.
/// Does not own or close `fd`.
public struct AgentClient: ~Copyable {
    private var channel: FrameChannel
    private var limits: SessionLimits

    /// Exchanges hellos; throws if the agent speaks another version or is not an agent, or does
    /// not answer within the limits' setup timeout.
    public init(fd: Int32, limits: SessionLimits = SessionLimits()) throws(SandboxError) {
        self.limits = limits
        channel = FrameChannel(fd: fd, deadline: limits.deadline(within: limits.setupTimeout))
        try wrap { () throws(ProtocolError) in try channel.send(.hello(version: FrameLimits.version)) }
        let reply = try Self.receive(&channel, during: "hello")
        guard case .hello(let version) = reply else { throw Self.unexpected(reply, during: "hello") }
        guard version == FrameLimits.version else {
            throw .protocolError(.badHello("agent speaks version \(version), host \(FrameLimits.version)"))
        }
        channel.deadline = limits.deadline
    }

    /// The session, its hellos exchanged, under other limits from here on: a session opened
    /// while waiting for the agent (a few seconds' deadline) carries a request that keeps to
    /// the job's.
    public mutating func relimit(_ limits: SessionLimits) {
        self.limits = limits
        channel.deadline = limits.deadline
    }

    /// Runs a command and relays its streams: stdout and stderr chunks are written to the given
    /// descriptors as they arrive, `stdin` (if the request asks for it) is sent until EOF, and
    /// every byte read from `signals` is forwarded as that signal number. Returns how it ended.
    /// Only the limits' deadline applies: a command may be silent for as long as it likes.
    public consuming func run(_ request: ExecRequest, stdin: Int32? = nil, stdout: Int32, stderr: Int32,
                              signals: Int32? = nil) throws(SandboxError) -> ExitStatus {
        try sendRequest(.exec(request))
        var relay = try ExecClientRelay(socket: channel.fd, wantsStdin: request.stdin, stdin: stdin,
                                        stdout: stdout, stderr: stderr, signals: signals, deadline: limits.deadline)
        return try relay.run(channel: &channel)
    }

    /// Copies the local file `source` to `destination` in the guest with the given mode
    /// (default: the local file's permission bits).
    public consuming func copyIn(source: String, destination: String, mode: UInt32? = nil) throws(SandboxError) {
        // O_NONBLOCK: opening a FIFO planted at `source` must not block; it is refused below.
        let fd = open(source, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .local(operation: "open \(source)", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .local(operation: "fstat \(source)", errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .local(operation: "copy-in \(source) (not a regular file)", errno: EINVAL) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        channel.stallTimeout = limits.stallTimeout
        let size = UInt64(info.st_size)
        try wrap { () throws(ProtocolError) in
            try channel.send(.copyIn(path: destination, mode: mode ?? UInt32(info.st_mode & 0o7777), size: size))
        }
        var chunk = [UInt8](repeating: 0, count: FrameLimits.maxChunk)
        var sent: UInt64 = 0
        while sent < size {
            let want = Int(min(UInt64(chunk.count), size - sent))
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .local(operation: "read \(source)", errno: n < 0 ? errno : EIO) }
            try wrap { () throws(ProtocolError) in try channel.send(.fileData(Array(chunk[0..<n]))) }
            sent += UInt64(n)
        }
        try wrap { () throws(ProtocolError) in try channel.send(.fileEnd) }
        let reply = try Self.receive(&channel, during: "copy-in")
        guard case .ok = reply else { throw Self.unexpected(reply, during: "copy-in") }
    }

    /// Copies `source` in the guest to the local file `destination` (into it, when it is a
    /// directory). The file is written under a temporary name beside the destination and
    /// renamed over it only once every announced byte has arrived: a failed, short or oversized
    /// copy leaves the destination as it was. Its mode is the guest's permission bits without
    /// setuid, setgid and sticky (and less the umask). Returns the number of bytes copied.
    @discardableResult
    public consuming func copyOut(source: String, destination: String) throws(SandboxError) -> UInt64 {
        channel.stallTimeout = limits.stallTimeout
        let target = try CopyOutTarget(destination: destination, guestSource: source)
        try sendRequest(.copyOut(path: source))
        let first = try Self.receive(&channel, during: "copy-out")
        guard case .fileInfo(let mode, let size) = first else { throw Self.unexpected(first, during: "copy-out") }
        let file = try target.create(mode: mode, announcedSize: size)
        do throws(SandboxError) {
            try receiveFileData(size: size, into: file)
        } catch {
            file.discard()
            throw error
        }
        try file.commit()
        return size
    }

    /// The copy-out's `file-data` chunks up to exactly `size` bytes, then `file-end`.
    private mutating func receiveFileData(size: UInt64, into file: CopyOutFile) throws(SandboxError) {
        var received: UInt64 = 0
        while true {
            let message = try Self.receive(&channel, during: "copy-out")
            switch message {
            case .fileData(let data):
                guard UInt64(data.count) <= size - received else {
                    throw .protocolError(.invalidField("copy-out data exceeds the announced \(size) bytes"))
                }
                try file.write(data)
                received += UInt64(data.count)
            case .fileEnd:
                guard received == size else {
                    throw .protocolError(.invalidField("copy-out ended after \(received) of \(size) bytes"))
                }
                return
            default:
                throw Self.unexpected(message, during: "copy-out")
            }
        }
    }

    /// Asks the agent to power the VM off; returns once it has acknowledged.
    public consuming func powerOff() throws(SandboxError) {
        try sendRequest(.powerOff)
        let reply = try Self.receive(&channel, during: "power-off")
        guard case .ok = reply else { throw Self.unexpected(reply, during: "power-off") }
    }

    /// Tells the agent the VM was restored from a snapshot, with the host's wall clock now;
    /// returns once it has set the guest's clock.
    public consuming func announceRestore() throws(SandboxError) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        try sendRequest(.restored(seconds: UInt64(max(0, now.tv_sec)), nanoseconds: UInt32(now.tv_nsec)))
        let reply = try Self.receive(&channel, during: "restored")
        guard case .ok = reply else { throw Self.unexpected(reply, during: "restored") }
    }

    /// Sends a request; if the agent has already closed its side, what it sent before (an
    /// error message, usually) is still read and reported by the next receive.
    private func sendRequest(_ message: Message) throws(SandboxError) {
        do {
            try channel.send(message)
        } catch {
            if case .io(_, let e) = error, e == EPIPE || e == ECONNRESET { return }
            throw .protocolError(error)
        }
    }

    static func receive(_ channel: inout FrameChannel, during what: String) throws(SandboxError) -> Message {
        guard let message = try wrap({ () throws(ProtocolError) in try channel.receive() }) else {
            throw .protocolError(.closedByPeer("during \(what)"))
        }
        if case .error(let code, let text) = message { throw .agent(code: code, message: text) }
        return message
    }

    static func unexpected(_ message: Message, during what: String) -> SandboxError {
        .protocolError(.unexpectedMessage("\(message.name) during \(what)"))
    }
}

/// Writes all of `bytes` to `fd`, waiting for a non-blocking descriptor to drain until
/// `deadline` (nil: no limit).
func writeAll(_ fd: Int32, _ bytes: [UInt8], what: String, deadline: Double? = nil) throws(SandboxError) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN {
                let ready = try wrap { () throws(ProtocolError) in try FrameChannel.wait(fd, for: Int16(POLLOUT), until: deadline) }
                guard ready else { throw .protocolError(.timedOut("on \(what)")) }
                continue
            }
            throw .local(operation: what, errno: errno)
        }
        offset += n
    }
}
