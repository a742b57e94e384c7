import AgentProtocol
import CAgent
import Glibc

/// Runs one command and relays its streams until it has ended: stdout and stderr as separate
/// message streams (each in order), stdin and signals from the host, then the exit message.
func runExec(_ request: ExecRequest, channel: inout FrameChannel, children: ChildRegistry) throws(AgentError) {
    let stdoutPipe = try makePipe()
    let stderrPipe = try makePipe()
    var stdinPipe: (read: Int32, write: Int32)? = nil
    let childStdin: Int32
    if request.stdin {
        let p = try makePipe()
        stdinPipe = p
        childStdin = p.read
    } else {
        childStdin = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard childStdin >= 0 else { throw .system(operation: "open /dev/null", errno: errno) }
    }
    let child: ChildRegistry.Child
    do {
        child = try children.spawn(argv: request.argv, env: request.env,
                                   cwd: request.cwd.isEmpty ? nil : request.cwd,
                                   uid: request.uid, gid: request.gid,
                                   stdin: childStdin, stdout: stdoutPipe.write, stderr: stderrPipe.write,
                                   options: SpawnOptions(groups: request.groups, limits: request.limits,
                                                         makeCwd: request.makeCwd))
    } catch {
        for fd in [stdoutPipe.read, stdoutPipe.write, stderrPipe.read, stderrPipe.write, childStdin] { close(fd) }
        if let p = stdinPipe { close(p.write) }
        throw error
    }
    // The child has its copies; the agent keeps only its own ends.
    close(stdoutPipe.write)
    close(stderrPipe.write)
    close(childStdin)
    // Writes to the command's stdin pipe must fail with EPIPE, never raise SIGPIPE.
    kiln_agent_thread_sigpipe(1)
    defer { kiln_agent_thread_sigpipe(0) }
    var relay = ExecRelay(child: child, children: children, stdout: stdoutPipe.read, stderr: stderrPipe.read,
                          stdin: stdinPipe?.write)
    defer { relay.closeAll() }
    do {
        let status = try relay.run(channel: &channel, children: children)
        try wrap { () throws(ProtocolError) in try channel.send(.exit(status)) }
    } catch {
        relay.killAndReap(children: children)
        throw error
    }
}

private func makePipe() throws(AgentError) -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard kiln_agent_pipe(&fds) == 0 else { throw .system(operation: "pipe2", errno: errno) }
    return (fds[0], fds[1])
}

/// The poll loop of one running command.
private struct ExecRelay {
    let child: ChildRegistry.Child
    var stdout: Int32?
    var stderr: Int32?
    var stdin: Int32?
    /// Whether the request asked for stdin (stays true after the pipe is closed).
    let stdinAttached: Bool
    /// Host bytes not yet accepted by the child's stdin pipe.
    var stdinPending: [UInt8] = []
    var stdinCloseRequested = false
    var status: Int32? = nil
    var reaped = false

    /// Stop reading the host while this much stdin waits for the child (backpressure).
    static let stdinHighWater = 256 * 1024
    /// After the command ended, output still open (held by a background grandchild) is waited
    /// for while it keeps coming, but the exit is reported after this quiet time.
    static let quietAfterExitMs: Int32 = 100

    /// Where the child's status is kept; signals go through it (see `ChildRegistry.signal`).
    let children: ChildRegistry

    init(child: ChildRegistry.Child, children: ChildRegistry, stdout: Int32, stderr: Int32, stdin: Int32?) {
        self.child = child
        self.children = children
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin
        self.stdinAttached = stdin != nil
        if let stdin { _ = fcntl(stdin, F_SETFL, O_NONBLOCK) }
    }

    mutating func run(channel: inout FrameChannel, children: ChildRegistry) throws(AgentError) -> ExitStatus {
        var buffer = [UInt8](repeating: 0, count: FrameLimits.maxChunk)
        while true {
            // Frames that arrived with earlier reads (even with the exec request) come first:
            // poll would not report them again.
            try handleBufferedMessages(channel: &channel)
            if status != nil && stdout == nil && stderr == nil { break }
            var fds: [pollfd] = []
            let readHost = !channel.isPeerClosed && stdinPending.count < Self.stdinHighWater
            fds.append(pollfd(fd: readHost ? channel.fd : -1, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: stdout ?? -1, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: stderr ?? -1, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: status == nil ? child.pidfd : -1, events: Int16(POLLIN), revents: 0))
            fds.append(pollfd(fd: stdin != nil && !stdinPending.isEmpty ? stdin! : -1, events: Int16(POLLOUT), revents: 0))
            let timeout: Int32 = status == nil ? -1 : Self.quietAfterExitMs
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                throw .system(operation: "poll", errno: errno)
            }
            if ready == 0 { break }  // exited and output went quiet
            if fds[0].revents != 0 { try readHostMessages(channel: &channel) }
            if fds[1].revents != 0 { try Self.relayOutput(from: &stdout, buffer: &buffer, channel: channel, stream: .stdout) }
            if fds[2].revents != 0 { try Self.relayOutput(from: &stderr, buffer: &buffer, channel: channel, stream: .stderr) }
            if fds[3].revents != 0 { collectStatus(children: children) }
            if fds[4].revents != 0 { feedStdin() }
            if stdinCloseRequested && stdinPending.isEmpty, let fd = stdin { close(fd); stdin = nil }
        }
        guard let raw = status else { throw .system(operation: "wait", errno: ECHILD) }
        if kiln_agent_signaled(raw) != 0 { return .signaled(kiln_agent_term_signal(raw)) }
        return .exited(kiln_agent_exit_code(raw))
    }

    private enum Stream { case stdout, stderr }

    private static func relayOutput(from fd: inout Int32?, buffer: inout [UInt8], channel: borrowing FrameChannel,
                                      stream: Stream) throws(AgentError) {
        guard let source = fd else { return }
        let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return }
            throw .system(operation: "read command output", errno: errno)
        }
        if n == 0 { close(source); fd = nil; return }
        let data = Array(buffer[0..<n])
        try wrap { () throws(ProtocolError) in try channel.send(stream == .stdout ? .stdout(data) : .stderr(data)) }
    }

    private mutating func readHostMessages(channel: inout FrameChannel) throws(AgentError) {
        _ = try wrap { () throws(ProtocolError) in try channel.readAvailable() }
        try handleBufferedMessages(channel: &channel)
    }

    private mutating func handleBufferedMessages(channel: inout FrameChannel) throws(AgentError) {
        while let message = try wrap({ () throws(ProtocolError) in try channel.nextBuffered() }) {
            switch message {
            case .stdinData(let data):
                guard stdinAttached else {
                    throw .protocolError(.unexpectedMessage("stdin-data for a command without stdin"))
                }
                guard !stdinCloseRequested else {
                    throw .protocolError(.unexpectedMessage("stdin-data after stdin-close"))
                }
                // A command that closed its stdin (or ended) drops the rest, as a pipe would.
                if stdin != nil { stdinPending.append(contentsOf: data) }
            case .stdinClose:
                stdinCloseRequested = true
            case .signal(let number):
                // The whole process group, as a terminal's Ctrl-C would (the child is a session
                // leader); a signal that arrives after the command ended reaches nobody.
                children.signal(child.pid, number)
            default:
                throw .protocolError(.unexpectedMessage("\(message.name) while a command runs"))
            }
        }
        if channel.isPeerClosed {
            // The host went away: nobody will read the output, so the command is ended.
            throw .protocolError(.closedByPeer("while the command was running"))
        }
    }

    private mutating func feedStdin() {
        guard let fd = stdin else { return }
        let n = stdinPending.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            stdinPending.removeFirst(n)
        } else if n < 0 && errno != EAGAIN && errno != EINTR {
            // EPIPE: the command closed its stdin; what is left is dropped, as a pipe would.
            stdinPending.removeAll()
            close(fd)
            stdin = nil
        }
    }

    private mutating func collectStatus(children: ChildRegistry) {
        if let raw = children.collect(child.pid) {
            status = raw
            reaped = true
            if let fd = stdin { close(fd); stdin = nil }
            stdinPending.removeAll()
        }
    }

    mutating func killAndReap(children: ChildRegistry) {
        guard !reaped else { return }
        children.signal(child.pid, SIGKILL)
        while children.collect(child.pid) == nil {
            var p = pollfd(fd: child.pidfd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, 100)
        }
        reaped = true
    }

    mutating func closeAll() {
        for fd in [stdout, stderr, stdin] { if let fd { close(fd) } }
        stdout = nil
        stderr = nil
        stdin = nil
        close(child.pidfd)
    }
}
