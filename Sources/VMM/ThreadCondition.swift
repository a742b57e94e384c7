#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex and condition variable, for the VMM's few thread handoffs that must sleep
/// rather than poll (PauseGate, StartLatch). The state they guard lives with their owner and is
/// touched only between `lock` and `unlock`.
final class ThreadCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        changed.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// Wakes every waiter (futex wake: every thread role's filter allows it). Call it locked, or
    /// just after unlocking once the state it announces is set (waiters recheck it locked).
    func broadcast() { pthread_cond_broadcast(changed) }
    /// Sleeps until a broadcast (or a spurious wake-up). Call it locked.
    func wait() { pthread_cond_wait(changed, mutex) }
    /// As `wait`, but false once the CLOCK_REALTIME `deadline` has passed.
    func wait(until deadline: inout timespec) -> Bool { pthread_cond_timedwait(changed, mutex, &deadline) != ETIMEDOUT }

    /// The CLOCK_REALTIME time `milliseconds` from now, as `wait(until:)` takes it.
    static func deadline(milliseconds: Int) -> timespec {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += milliseconds / 1000
        deadline.tv_nsec += (milliseconds % 1000) * 1_000_000
        if deadline.tv_nsec >= 1_000_000_000 { deadline.tv_sec += 1; deadline.tv_nsec -= 1_000_000_000 }
        return deadline
    }
}
