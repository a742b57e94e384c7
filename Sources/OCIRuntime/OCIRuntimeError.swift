import Glibc
import SandboxHost

/// Why a runtime command failed; one line each, written to --log and stderr.
public enum OCIRuntimeError: Error, Equatable, Sendable, CustomStringConvertible {
    case badID(id: String, problem: String)
    case exists(id: String)
    case notFound(id: String)
    case system(operation: String, path: String, errno: Int32)
    case config(OCIConfigError)
    case host(SandboxHostError)
    /// The container is not in a state the command needs ("cannot start a container that has stopped").
    case state(String)
    case failed(String)

    public var description: String {
        switch self {
        case let .badID(id, problem): "invalid container id \"\(id)\": \(problem)"
        case let .exists(id): "container with id exists: \(id)"
        case let .notFound(id): "container \"\(id)\" does not exist"
        case let .system(operation, path, errno): "\(operation) \(path): \(String(cString: strerror(errno)))"
        case let .config(error): error.description
        case let .host(error): error.description
        case let .state(text): text
        case let .failed(text): text
        }
    }
}
