import Glibc

/// Why a bundle's config.json (or an exec's process.json) cannot be run. Every case names the
/// file or the field (`process.user.uid`, `mounts[3].type`), and prints as one line.
public enum OCIConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    case read(path: String, operation: String, errno: Int32)
    case tooLarge(path: String, limit: Int)
    case syntax(path: String, JSONDocument.SyntaxError)
    case missing(field: String)
    case wrongType(field: String, expected: String, found: String)
    case invalid(field: String, problem: String)
    /// Valid OCI, but not something a kiln VM can do.
    case unsupported(field: String, reason: String)

    public var description: String {
        switch self {
        case let .read(path, operation, errno): "\(operation) \(path): \(String(cString: strerror(errno)))"
        case let .tooLarge(path, limit): "\(path): larger than \(limit) bytes"
        case let .syntax(path, error): "\(path): \(error)"
        case let .missing(field): "\(field): missing"
        case let .wrongType(field, expected, found): "\(field): expected \(expected), found \(found)"
        case let .invalid(field, problem): "\(field): \(problem)"
        case let .unsupported(field, reason): "\(field): not supported by kiln: \(reason)"
        }
    }
}
