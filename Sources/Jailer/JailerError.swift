#if canImport(Glibc)
import Glibc
#endif

/// Why the jail could not be built: the step that failed, what it was doing, and the errno
/// when a system call failed. Printed as one line.
public struct JailerError: Error, Equatable, Sendable, CustomStringConvertible {
    public let step: String
    public let detail: String
    public let errno: Int32?

    public init(step: String, _ detail: String, errno: Int32? = nil) {
        self.step = step
        self.detail = detail
        self.errno = errno
    }

    /// A failed system call: captures the current errno.
    static func system(_ step: String, _ detail: String) -> JailerError {
        JailerError(step: step, detail, errno: Glibc.errno)
    }

    public var description: String {
        guard let errno else { return "\(step): \(detail)" }
        let text = strerror(errno).map { String(cString: $0) } ?? "error \(errno)"
        return "\(step): \(detail): \(text) (errno \(errno))"
    }
}

/// Runs a system call that returns -1 and sets errno on failure, retrying on EINTR.
@discardableResult
func check(_ step: String, _ detail: @autoclosure () -> String, _ body: () -> Int32) throws(JailerError) -> Int32 {
    while true {
        let result = body()
        if result >= 0 { return result }
        if errno == EINTR { continue }
        throw .system(step, detail())
    }
}
