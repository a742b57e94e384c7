import AgentProtocol
import Glibc

/// The host side of one agent session over a connected stream socket (the vsock UDS after
/// `CONNECT`, or a socketpair in tests). One request per connection, as the protocol says.
/// Does not own or close `fd`.
public struct AgentClient: ~Copyable {
    private var channel: FrameChannel

    /// Exchanges hellos; throws if the agent speaks another version or is not an agent.
    public init(fd: Int32) throws(SandboxError) {
        channel = FrameChannel(fd: fd)
        try wrap { () throws(ProtocolError) in try channel.send(.hello(version: FrameLimits.version)) }
        let reply = try Self.receive(&channel, during: "hello")
        guard case .hello(let version) = reply else { throw Self.unexpected(reply, during: "hello") }
        guard version == FrameLimits.version else {
            throw .protocolError(.badHello("agent speaks version \(version), host \(FrameLimits.version)"))
        }
    }

    /// Runs a command and relays its streams: stdout and stderr chunks are written to the given
    /// descriptors as they arrive, `stdin` (if the request asks for it) is sent until EOF, and
    /// every byte read from `signals` is forwarded as that signal number. Returns how it ended.
    public consuming func run(_ request: ExecRequest, stdin: Int32? = nil, stdout: Int32, stderr: Int32,
                              signals: Int32? = nil) throws(SandboxError) -> ExitStatus {
        try sendRequest(.exec(request))
        var relay = ExecClientRelay(socket: channel.fd, wantsStdin: request.stdin, stdin: stdin,
                                    stdout: stdout, stderr: stderr, signals: signals)
        return try relay.run(channel: &channel)
    }

    /// Copies the local file `source` to `destination` in the guest with the given mode
    /// (default: the local file's permission bits).
    public consuming func copyIn(source: String, destination: String, mode: UInt32? = nil) throws(SandboxError) {
        let fd = open(source, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .local(operation: "open \(source)", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .local(operation: "fstat \(source)", errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .local(operation: "copy-in \(source) (not a regular file)", errno: EINVAL) }
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

    /// Copies `source` in the guest to the local file `destination` (created with the guest
    /// file's mode). Returns the number of bytes copied.
    @discardableResult
    public consuming func copyOut(source: String, destination: String) throws(SandboxError) -> UInt64 {
        try sendRequest(.copyOut(path: source))
        let first = try Self.receive(&channel, during: "copy-out")
        guard case .fileInfo(let mode, let size) = first else { throw Self.unexpected(first, during: "copy-out") }
        let fd = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw .local(operation: "open \(destination)", errno: errno) }
        defer { close(fd) }
        var received: UInt64 = 0
        while true {
            let message = try Self.receive(&channel, during: "copy-out")
            switch message {
            case .fileData(let data):
                guard UInt64(data.count) <= size - received else {
                    throw .protocolError(.invalidField("copy-out data exceeds the announced \(size) bytes"))
                }
                try writeAll(fd, data, what: "write \(destination)")
                received += UInt64(data.count)
            case .fileEnd:
                guard received == size else {
                    throw .protocolError(.invalidField("copy-out ended after \(received) of \(size) bytes"))
                }
                return received
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

func writeAll(_ fd: Int32, _ bytes: [UInt8], what: String) throws(SandboxError) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, -1)
                continue
            }
            throw .local(operation: what, errno: errno)
        }
        offset += n
    }
}
