import AgentProtocol
import Glibc

/// The host's end of the agent's readiness announcement: a Unix socket listening at
/// `<VMM vsock socket>_<FrameLimits.agentReadyPort>`, where a hybrid-vsock VMM delivers the
/// guest's connections to that host port. The agent connects once when it listens, so the host
/// need not connect again and again while the guest boots.
/// Whoever connects is the guest, which may be hostile: a connection only means "try now" and
/// carries nothing the host reads.
public final class AgentReadySignal {
    public let path: String
    private var fd: Int32
    /// Connections accepted so far.
    public private(set) var announcements = 0

    /// Listens at `socketPath`_<port> (a new file: an existing one is an error).
    public init(vsockSocket socketPath: String) throws(SandboxError) {
        path = "\(socketPath)_\(FrameLimits.agentReadyPort)"
        guard var address = UnixSocketAddress.make(path) else {
            throw .local(operation: "agent readiness socket path \(path) is longer than \(UnixSocketAddress.capacity - 1) bytes",
                         errno: ENAMETOOLONG)
        }
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .local(operation: "socket", errno: errno) }
        let bound = UnixSocketAddress.with(&address) { bind(fd, $0, $1) }
        guard bound == 0, chmod(path, 0o600) == 0, listen(fd, 4) == 0 else {
            let error = errno
            Glibc.close(fd)
            throw .local(operation: "listen on \(path)", errno: error)
        }
    }

    /// Lets a VMM running as `uid`:`gid` (a jailed one) connect.
    public func allow(uid: UInt32, gid: UInt32) throws(SandboxError) {
        guard fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw .local(operation: "chown \(path)", errno: errno)
        }
    }

    /// Waits until a connection arrives or `deadline` (monotonic seconds) passes; true if one
    /// arrived. Every pending connection is accepted and closed unread.
    public func wait(until deadline: Double) -> Bool {
        guard fd >= 0 else { return false }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let left = max(0, deadline - MonotonicClock.now())
        let ready = poll(&entry, 1, Int32(min(left * 1000, 60_000).rounded(.up)))
        guard ready > 0 else { return false }
        var arrived = false
        while true {
            let connection = accept(fd, nil, nil)
            if connection < 0 { break }
            Glibc.close(connection)
            arrived = true
            announcements += 1
        }
        return arrived
    }

    /// Accepts what has arrived without waiting; true if the agent has announced itself by now.
    public func hasAnnounced() -> Bool {
        _ = wait(until: 0)
        return announcements > 0
    }

    /// Stops listening; the socket file stays (it goes with the run directory).
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}
