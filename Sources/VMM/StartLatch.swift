#if canImport(Glibc)
import Glibc
#endif

/// Counts threads that have reached a point (their seccomp filter installed) and lets the VMM
/// thread sleep until all have, instead of polling: `Machine.start` waits on it (once it has
/// confined itself) before it lets the vCPUs run, so every microsecond here is start-up latency.
final class StartLatch: @unchecked Sendable {
    private let condition = ThreadCondition()
    private var arrived = 0

    /// One more thread is there.
    func arrive() {
        condition.lock()
        arrived += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Returns once `count` threads have arrived, or after `milliseconds` with false.
    func wait(for count: Int, milliseconds: Int) -> Bool {
        var deadline = ThreadCondition.deadline(milliseconds: milliseconds)
        condition.lock()
        defer { condition.unlock() }
        while arrived < count {
            if !condition.wait(until: &deadline) { return arrived >= count }
        }
        return true
    }
}
