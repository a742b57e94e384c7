#if canImport(Glibc)
import Glibc
#endif

/// The `uds_path` listener. It is watched level-triggered, so a client left in its backlog keeps
/// it readable: when accept cannot take that client (no descriptors left in the process or
/// the system, which a guest helps along by opening many connections to the host), the
/// listener leaves the epoll set rather than wake the device thread in a loop. It comes back
/// when a host socket is closed (a descriptor is free), or when `acceptRetry` fires.
extension VsockMuxer {
    /// Short enough that a client is not kept waiting long once descriptors are free again
    /// elsewhere in the process; long enough that a lasting shortage costs a few wake-ups a second.
    static let acceptRetryNanoseconds: UInt64 = 250_000_000

    /// Accepts every waiting host client; each must then send `CONNECT <port>\n`.
    func acceptClients() {
        applyPendingReset()
        while !listenerPaused {
            let fd = accept(listener)
            guard fd >= 0 else {
                // Whatever the failure (EMFILE, ENFILE, ENOBUFS, ENOMEM...), a client is still
                // waiting, and asking again at once would fail the same way.
                if fd != -EAGAIN && fd != -EWOULDBLOCK { pauseListener() }
                return
            }
            guard handshaking.count < maxConnections else {
                counters.connectionsRefused += 1
                VsockHostSockets.close(fd)
                continue
            }
            let connection = VsockConnection(fd: fd, state: .awaitingConnectLine)
            connection.connectLine.reserveCapacity(Self.maxConnectLine)
            guard watch(connection) else {
                VsockHostSockets.close(fd)
                continue
            }
            handshaking[fd] = connection
        }
    }

    func pauseListener() {
        guard let events else { return }
        listenerPaused = true
        counters.acceptsDeferred += 1
        events.rewatch(listener, for: [])
        // Should arming ever fail, the next host socket closed still brings the listener back.
        _ = acceptRetry.arm(after: Self.acceptRetryNanoseconds)
    }

    /// After a host socket is closed, or when `acceptRetry` fired; nothing if not paused.
    func resumeListener() {
        guard listenerPaused, let events else { return }
        listenerPaused = false
        events.rewatch(listener, for: .readable)
    }

    /// The device thread's handler of `acceptRetry`.
    func acceptRetryFired() {
        acceptRetry.consume()
        resumeListener()
    }
}
