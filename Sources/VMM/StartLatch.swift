#if canImport(Glibc)
import Glibc
#endif

/// Counts threads that have reached a point (their seccomp filter installed) and lets the VMM
/// thread sleep until all have, instead of polling: `Machine.start` waits on it before it
/// confines itself and lets the vCPUs run, so every microsecond here is start-up latency.
final class StartLatch: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var arrived = 0

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

    /// One more thread is there (futex wake: every thread role's filter allows it).
    func arrive() {
        pthread_mutex_lock(mutex)
        arrived += 1
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// Returns once `count` threads have arrived, or after `milliseconds` with false.
    func wait(for count: Int, milliseconds: Int) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += milliseconds / 1000
        deadline.tv_nsec += (milliseconds % 1000) * 1_000_000
        if deadline.tv_nsec >= 1_000_000_000 { deadline.tv_sec += 1; deadline.tv_nsec -= 1_000_000_000 }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while arrived < count {
            if pthread_cond_timedwait(changed, mutex, &deadline) == ETIMEDOUT { return arrived >= count }
        }
        return true
    }
}
