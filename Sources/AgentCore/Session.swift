import AgentProtocol
import Glibc

/// What sessions share: the child registry, what "power off" means (the real reboot(2) in
/// the guest, a recorded call in tests) and what a restore notice does (RestoreNotice).
public struct SessionContext: Sendable {
    public let children: ChildRegistry
    public let powerOff: @Sendable () -> Void
    public let restore: RestoreNotice

    public init(children: ChildRegistry, powerOff: @escaping @Sendable () -> Void,
                restore: RestoreNotice = RestoreNotice()) {
        self.children = children
        self.powerOff = powerOff
        self.restore = restore
    }
}

/// Serves one connection: hello exchange, then exactly one request (exec, copy in, copy out or
/// power off). Any error ends the session — never the agent — after telling the host why when
/// the connection still works. Does not close `fd`.
public func serveSession(fd: Int32, context: SessionContext) -> AgentError? {
    var channel = FrameChannel(fd: fd)
    do throws(AgentError) {
        try handshake(&channel)
        guard let request = try wrap({ () throws(ProtocolError) in try channel.receive() }) else { return nil }
        switch request {
        case .exec(let exec):
            try runExec(exec, channel: &channel, children: context.children)
        case .copyIn(let path, let mode, let size):
            try receiveFile(path: path, mode: mode, size: size, channel: &channel)
        case .copyOut(let path):
            try sendFile(path: path, channel: &channel)
        case .powerOff:
            try wrap { () throws(ProtocolError) in try channel.send(.ok) }
            context.powerOff()
        case .restored(let seconds, let nanoseconds):
            try context.restore.apply(seconds: seconds, nanoseconds: nanoseconds)
            try wrap { () throws(ProtocolError) in try channel.send(.ok) }
        default:
            throw .protocolError(.unexpectedMessage("\(request.name) as a request"))
        }
        return nil
    } catch {
        try? channel.send(.error(code: error.errnoCode, message: error.description))
        return error
    }
}

private func handshake(_ channel: inout FrameChannel) throws(AgentError) {
    let first = try wrap { () throws(ProtocolError) in try channel.receive() }
    guard case .hello(let version)? = first else {
        throw .protocolError(first == nil ? .closedByPeer("before hello") : .unexpectedMessage("\(first!.name) before hello"))
    }
    guard version == FrameLimits.version else {
        throw .protocolError(.badHello("version \(version), agent speaks \(FrameLimits.version)"))
    }
    try wrap { () throws(ProtocolError) in try channel.send(.hello(version: FrameLimits.version)) }
}

/// Lifts a protocol error into the agent's error type.
@inline(__always)
func wrap<T>(_ body: () throws(ProtocolError) -> T) throws(AgentError) -> T {
    do { return try body() } catch { throw .protocolError(error) }
}
