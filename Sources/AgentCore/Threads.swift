import CAgent
import Glibc

private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// Starts a detached POSIX thread (no Foundation `Thread` in the agent). Returns the errno of
/// pthread_create, 0 on success.
@discardableResult
public func startDetachedThread(_ body: @escaping @Sendable () -> Void) -> Int32 {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().run()
        return nil
    }, context)
    if result != 0 {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        return result
    }
    pthread_detach(thread)
    return 0
}

/// Who may talk to the agent: the host alone. A guest process (any user: `--user 1000`) that
/// reaches the agent's port through vsock loopback, or a sibling VM, would otherwise run
/// commands as root; the guest kernel has no loopback transport either (Kernels/microvm.config),
/// this is the agent's own check.
public enum AgentPeerPolicy {
    public static let hostCID: UInt32 = kiln_agent_host_cid()

    public static func admits(peerCID: UInt32) -> Bool { peerCID == hostCID }
}

/// Accepts connections on `listener` forever, one thread per session, so a long command never
/// blocks another request. A failing accept (EMFILE...) is logged and retried after a pause.
/// Connections from any CID but the host's are closed unread.
public func serveConnections(listener: Int32, context: SessionContext, log: @escaping @Sendable (String) -> Void) -> Never {
    while true {
        var peerCID: UInt32 = 0
        let fd = kiln_agent_accept_peer(listener, &peerCID)
        if fd < 0 {
            if errno != EINTR {
                log("accept: \(errnoName(errno))")
                usleep(100_000)
            }
            continue
        }
        guard AgentPeerPolicy.admits(peerCID: peerCID) else {
            log("refused a connection from CID \(peerCID): only the host (CID \(AgentPeerPolicy.hostCID)) is served")
            close(fd)
            continue
        }
        let started = startDetachedThread {
            if let error = serveSession(fd: fd, context: context) { log("session: \(error)") }
            close(fd)
        }
        if started != 0 {
            log("cannot start a session thread: \(errnoName(started))")
            close(fd)
        }
    }
}
