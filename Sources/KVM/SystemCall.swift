import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` (a raw system call returning -1 on failure), retrying on EINTR, and turns
/// failure into a `KVMError` naming `operation`.
@inline(__always)
func check(_ operation: @autoclosure () -> String, _ body: () -> Int32) throws(KVMError) -> Int32 {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw .systemCall(operation: operation(), errno: code)
    }
}

/// An owned file descriptor closed when its owner goes away.
final class OwnedDescriptor: @unchecked Sendable {
    let raw: Int32
    init(_ raw: Int32) { self.raw = raw }
    deinit { close(raw) }
}
