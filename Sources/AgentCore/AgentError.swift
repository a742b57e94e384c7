import AgentProtocol

/// Why a session ended early. Reported to the host as an error message (code = errno, or 0 for
/// protocol errors) when the connection still works.
public enum AgentError: Error, Equatable, Sendable, CustomStringConvertible {
    case protocolError(ProtocolError)
    /// The command could not be started (chdir, setgid, setuid or execve failed in the child).
    case spawn(command: String, errno: Int32)
    /// A system call of the agent itself failed.
    case system(operation: String, errno: Int32)

    public var errnoCode: UInt32 {
        switch self {
        case .protocolError(.io(_, let e)): UInt32(bitPattern: e)
        case .protocolError: 0
        case .spawn(_, let e), .system(_, let e): UInt32(bitPattern: e)
        }
    }

    public var description: String {
        switch self {
        case .protocolError(let p): p.description
        case .spawn(let command, let e): "cannot run \(command): \(errnoName(e))"
        case .system(let op, let e): "\(op): \(errnoName(e))"
        }
    }
}

/// "ENOENT (No such file or directory)"-style text without Foundation.
func errnoName(_ e: Int32) -> String {
    guard let text = strerror(e) else { return "errno \(e)" }
    return "\(String(cString: text)) (errno \(e))"
}

#if canImport(Glibc)
import Glibc
#endif
