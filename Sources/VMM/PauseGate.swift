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
    private let condition = ThreadCondition()
    private var parked = 0

    @inline(__always) var isPauseRequested: Bool { requested.load(ordering: .relaxed) }

    /// Called by a vCPU thread outside KVM_RUN: returns once the VM is resumed or stopping.
    func park(unlessStopping stopping: () -> Bool) {
        condition.lock()
        parked += 1
        condition.broadcast()
        while requested.load(ordering: .acquiring) && !stopping() {
            condition.wait()
        }
        parked -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Asks vCPUs to park; `kick` knocks them out of KVM_RUN. True once `count` are parked,
    /// false if they did not all arrive within `milliseconds`.
    func pause(vcpuCount count: Int, milliseconds: Int, kick: () -> Void) -> Bool {
        requested.store(true, ordering: .releasing)
        kick()
        var deadline = ThreadCondition.deadline(milliseconds: milliseconds)
        condition.lock()
        defer { condition.unlock() }
        while parked < count {
            if !condition.wait(until: &deadline) { return parked >= count }
        }
        return true
    }

    /// Makes vCPUs that have not entered KVM_RUN yet park before they do (no kick needed):
    /// `Machine.start` holds them until every thread of the VM is confined.
    func hold() { requested.store(true, ordering: .releasing) }

    func resume() {
        condition.lock()
        requested.store(false, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
    }

    /// Wakes parked vCPUs so they can see the VM is stopping.
    func wakeAll() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }
}
