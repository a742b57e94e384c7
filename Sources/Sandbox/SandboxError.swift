import AgentProtocol

/// Why a host-side sandbox operation failed.
public enum SandboxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The agent's stream broke the protocol, or the connection failed.
    case protocolError(ProtocolError)
    /// The agent answered with an error message (code: errno in the guest, 0 for protocol errors).
    case agent(code: UInt32, message: String)
    /// A local file or descriptor operation failed.
    case local(operation: String, errno: Int32)

    /// The operation ran out of time (its deadline, a stall, a socket timeout).
    public var isTimeout: Bool {
        if case .protocolError(.timedOut) = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .protocolError(let p): "agent protocol: \(p)"
        case .agent(_, let message): "agent: \(message)"
        case .local(let op, let e): "\(op): errno \(e)"
        }
    }
}

@inline(__always)
func wrap<T>(_ body: () throws(ProtocolError) -> T) throws(SandboxError) -> T {
    do { return try body() } catch { throw .protocolError(error) }
}
