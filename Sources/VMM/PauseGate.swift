import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where vCPU threads wait while the VM is paused (`PATCH /vm {"state": "Paused"}`).
///
/// The running path costs one relaxed atomic load per exit; only a paused vCPU takes the lock,
/// and it sleeps on a condition variable rather than polling.
final class PauseGate: @unchecked Sendable {
    private let requested = Atomic<Bool>(false)
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var parked = 0

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

    @inline(__always) var isPauseRequested: Bool { requested.load(ordering: .relaxed) }

    /// Called by a vCPU thread outside KVM_RUN: returns once the VM is resumed or stopping.
    func park(unlessStopping stopping: () -> Bool) {
        pthread_mutex_lock(mutex)
        parked += 1
        pthread_cond_broadcast(changed)
        while requested.load(ordering: .acquiring) && !stopping() {
            pthread_cond_wait(changed, mutex)
        }
        parked -= 1
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// Asks vCPUs to park; `kick` knocks them out of KVM_RUN. True once `count` are parked,
    /// false if they did not all arrive within `milliseconds`.
    func pause(vcpuCount count: Int, milliseconds: Int, kick: () -> Void) -> Bool {
        requested.store(true, ordering: .releasing)
        kick()
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += milliseconds / 1000
        deadline.tv_nsec += (milliseconds % 1000) * 1_000_000
        if deadline.tv_nsec >= 1_000_000_000 { deadline.tv_sec += 1; deadline.tv_nsec -= 1_000_000_000 }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while parked < count {
            if pthread_cond_timedwait(changed, mutex, &deadline) == ETIMEDOUT { return parked >= count }
        }
        return true
    }

    /// Makes vCPUs that have not entered KVM_RUN yet park before they do (no kick needed):
    /// `Machine.start` holds them until every thread of the VM is confined.
    func hold() { requested.store(true, ordering: .releasing) }

    func resume() {
        pthread_mutex_lock(mutex)
        requested.store(false, ordering: .releasing)
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// Wakes parked vCPUs so they can see the VM is stopping.
    func wakeAll() {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }
}
