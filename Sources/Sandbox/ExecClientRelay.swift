import AgentProtocol
import Glibc

/// The host's poll loop while a command runs: never blocks on one direction while the other has
/// data (the socket is non-blocking and outgoing frames are queued), so a command that writes a
/// lot while reading its stdin cannot deadlock against the agent.
struct ExecClientRelay {
    let socket: Int32
    var stdin: Int32?
    let stdout: Int32
    let stderr: Int32
    var signals: Int32?
    /// Encoded frames not yet accepted by the socket.
    var outgoing: [UInt8] = []
    var agentStoppedReading = false
    /// The run gives up at this monotonic time (nil: never): an agent that never sends the
    /// exit status, or a `kiln exec --timeout` whose kill the agent ignores.
    let deadline: Double?

    static let outgoingHighWater = 256 * 1024

    /// `wantsStdin` with no `stdin` descriptor sends an immediate end of input.
    init(socket: Int32, wantsStdin: Bool, stdin: Int32?, stdout: Int32, stderr: Int32, signals: Int32?,
         deadline: Double? = nil) throws(SandboxError) {
        self.socket = socket
        self.stdin = wantsStdin ? stdin : nil
        self.stdout = stdout
        self.stderr = stderr
        self.signals = signals
        self.deadline = deadline
        if wantsStdin && stdin == nil { try queue(.stdinClose) }
    }

    private mutating func queue(_ message: Message) throws(SandboxError) {
        outgoing += try wrap { () throws(ProtocolError) in try FrameCodec.encode(message) }
    }

    mutating func run(channel: inout FrameChannel) throws(SandboxError) -> ExitStatus {
        let flags = fcntl(socket, F_GETFL)
        _ = fcntl(socket, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(socket, F_SETFL, flags) }
        var buffer = [UInt8](repeating: 0, count: FrameLimits.maxChunk)
        // Frames read together with the hello reply are not reported by poll again.
        if let status = try handleBufferedMessages(channel: &channel) { return status }
        while true {
            var fds: [pollfd] = []
            let wantWrite = !outgoing.isEmpty && !agentStoppedReading
            fds.append(pollfd(fd: socket, events: Int16(POLLIN) | (wantWrite ? Int16(POLLOUT) : 0), revents: 0))
            let readStdin = stdin != nil && outgoing.count < Self.outgoingHighWater
            fds.append(pollfd(fd: readStdin ? stdin! : -1, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: signals ?? -1, events: Int16(POLLIN), revents: 0))
            let ready = poll(&fds, nfds_t(fds.count), MonotonicClock.milliseconds(until: deadline))
            if ready < 0 {
                if errno == EINTR { continue }
                throw .local(operation: "poll", errno: errno)
            }
            if ready == 0, let deadline, MonotonicClock.now() >= deadline {
                throw .protocolError(.timedOut("waiting for the command's exit status"))
            }
            if fds[0].revents & Int16(POLLOUT) != 0 { flushOutgoing() }
            if fds[0].revents & ~Int16(POLLOUT) != 0 {
                _ = try wrap { () throws(ProtocolError) in try channel.readAvailable() }
            }
            if let status = try handleBufferedMessages(channel: &channel) { return status }
            if fds[1].revents != 0, let fd = stdin {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    try queue(.stdinData(Array(buffer[0..<n])))
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    try queue(.stdinClose)
                    stdin = nil
                }
            }
            if fds[2].revents != 0, let fd = signals {
                var number: UInt8 = 0
                let n = read(fd, &number, 1)
                if n == 1, number > 0 { try queue(.signal(Int32(number))) }
                if n == 0 { signals = nil }
            }
            if !outgoing.isEmpty { flushOutgoing() }
        }
    }

    /// Relays complete messages already read; the exit status once it has arrived.
    private func handleBufferedMessages(channel: inout FrameChannel) throws(SandboxError) -> ExitStatus? {
        while let message = try wrap({ () throws(ProtocolError) in try channel.nextBuffered() }) {
            switch message {
            case .stdout(let data): try writeAll(stdout, data, what: "write stdout", deadline: deadline)
            case .stderr(let data): try writeAll(stderr, data, what: "write stderr", deadline: deadline)
            case .exit(let status): return status
            case .error(let code, let text): throw .agent(code: code, message: text)
            default: throw .protocolError(.unexpectedMessage("\(message.name) while a command runs"))
            }
        }
        if channel.isPeerClosed { throw .protocolError(.closedByPeer("before the command's exit status")) }
        return nil
    }

    private mutating func flushOutgoing() {
        guard !agentStoppedReading else { outgoing.removeAll(); return }
        let n = outgoing.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        if n > 0 {
            outgoing.removeFirst(n)
        } else if n < 0 && errno != EAGAIN && errno != EINTR {
            // The agent closed its side for reading; its exit message may still be on the way.
            agentStoppedReading = true
            outgoing.removeAll()
        }
    }
}
