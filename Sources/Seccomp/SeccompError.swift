#if canImport(Glibc)
import Glibc
#endif

/// A failed step of building or loading a filter: which one, and the errno it gave.
public struct SeccompError: Error, Equatable, Sendable, CustomStringConvertible {
    public let operation: String
    public let errno: Int32

    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        let text = strerror(errno).map { String(cString: $0) } ?? "error \(errno)"
        return "seccomp: \(operation) failed: \(text) (errno \(errno))"
    }
}
