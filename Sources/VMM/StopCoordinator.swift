import KVM
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Records the first reason the VM should stop and knocks every vCPU out of KVM_RUN.
/// Several threads may ask at once (two vCPUs resetting, a device, a signal): the first wins.
final class StopCoordinator: Sendable {
    private let outcome = Mutex<VMOutcome?>(nil)
    private let targets = Mutex<[(vcpu: Vcpu, thread: NativeThread)]>([])
    private let observers = Mutex<[@Sendable () -> Void]>([])

    /// `observer` runs once, on the thread that requests the stop (a vCPU parked by a pause
    /// must be woken to see it).
    func onStop(_ observer: @escaping @Sendable () -> Void) {
        observers.withLock { $0.append(observer) }
    }

    var isStopping: Bool { outcome.withLock { $0 != nil } }
    var result: VMOutcome? { outcome.withLock { $0 } }

    func register(vcpu: Vcpu, thread: NativeThread) {
        targets.withLock { $0.append((vcpu, thread)) }
        // A stop requested while this vCPU was being started must still reach it.
        if isStopping { vcpu.requestExit(); thread.kick() }
    }

    /// Knocks every vCPU out of KVM_RUN once without stopping the VM (they re-enter).
    func kickAll() {
        for target in targets.withLock({ $0 }) { target.thread.kick() }
    }

    /// Blocks until a stop is requested or `milliseconds` pass; true when stopping.
    /// `idle` waits up to the milliseconds it is given (by default it sleeps; the API's VMM
    /// thread serves requests meanwhile).
    func waitForStop(milliseconds: Int, idle: (Int) -> Void = { usleep(UInt32($0) * 1000) }) -> Bool {
        var waited = 0
        while waited < milliseconds {
            if isStopping { return true }
            idle(10)
            waited += 10
        }
        return isStopping
    }

    func requestStop(_ reason: VMOutcome) {
        let first = outcome.withLock { current -> Bool in
            guard current == nil else { return false }
            current = reason
            return true
        }
        guard first else { return }
        for observer in observers.withLock({ $0 }) { observer() }
        for target in targets.withLock({ $0 }) {
            target.vcpu.requestExit()
            target.thread.kick()
        }
    }
}
