import Seccomp
#if canImport(Glibc)
import Glibc
#endif

/// Installs the calling thread's seccomp filter before it does its work. A thread that cannot be
/// confined never runs guest code: it stops the VM with the reason instead.
enum ThreadConfinement {
    static func enter(_ role: ThreadRole, enabled: Bool, stop: StopCoordinator) -> Bool {
        guard enabled else { return true }
        do {
            try Seccomp.install(role)
            return true
        } catch {
            stop.requestStop(.failed("seccomp filter for the \(role) thread: \(error)"))
            return false
        }
    }
}
