import Seccomp

/// A VM thread started ahead of its work. It runs an optional start-up step, installs its role's
/// seccomp filter, reports that it is ready and sleeps until `assign` hands it its work (which it
/// runs only if its filter went in) or `dismiss` ends it. The builder starts the device thread and
/// the vCPU threads this way while it is still building the VM, so their creation and filter
/// loading happen on the other core beside the build rather than after it, on the way to the first
/// KVM_RUN; and their start-up steps take KVM work off the building thread (MachineBuilder).
final class StandbyThread: Sendable {
    let native: NativeThread
    private let mailbox: Mailbox

    private init(native: NativeThread, mailbox: Mailbox) {
        self.native = native
        self.mailbox = mailbox
    }

    /// `step` runs first, still unconfined (for KVM calls the role's filter does not allow); if
    /// it fails, the thread reports the error through `waitUntilReady` and runs no work.
    static func spawn(name: String, capabilities: ThreadCapabilities.Kind = .none, role: ThreadRole,
                      seccomp: Bool, stop: StopCoordinator,
                      step: (@Sendable () throws(VMMError) -> Void)? = nil) throws(VMMError) -> StandbyThread {
        let mailbox = Mailbox()
        let native = try NativeThread.spawn(name: name, capabilities: capabilities) {
            var failure: VMMError?
            if let step {
                do throws(VMMError) { try step() } catch { failure = error }
            }
            let entered = failure == nil && ThreadConfinement.enter(role, enabled: seccomp, stop: stop)
            guard let work = mailbox.reportReadyAndWait(stepFailure: failure), entered else { return }
            work()
        }
        return StandbyThread(native: native, mailbox: mailbox)
    }

    /// Waits until the thread is confined (or gave up, having asked the VM to stop) and rethrows
    /// its start-up step's error. False if it was not ready within `milliseconds`.
    func waitUntilReady(milliseconds: Int) throws(VMMError) -> Bool {
        try mailbox.waitUntilReady(milliseconds: milliseconds)
    }

    /// Hands the thread its work; it runs it once confined.
    func assign(_ body: @escaping @Sendable () -> Void) { mailbox.assign(body) }

    /// Ends a thread that has not been given work (a build that failed) and waits for it.
    func dismiss() {
        if mailbox.dismiss() { native.join() }
    }

    /// What the thread and its starter hand each other, under one lock.
    private final class Mailbox: @unchecked Sendable {
        private let condition = ThreadCondition()
        private var ready = false
        private var stepFailure: VMMError?
        private var work: (@Sendable () -> Void)?
        private var dismissed = false

        func reportReadyAndWait(stepFailure failure: VMMError?) -> (@Sendable () -> Void)? {
            condition.lock()
            defer { condition.unlock() }
            ready = true
            stepFailure = failure
            condition.broadcast()
            while work == nil && !dismissed { condition.wait() }
            return dismissed ? nil : work
        }

        func waitUntilReady(milliseconds: Int) throws(VMMError) -> Bool {
            var deadline = ThreadCondition.deadline(milliseconds: milliseconds)
            condition.lock()
            defer { condition.unlock() }
            while !ready {
                if !condition.wait(until: &deadline) { break }
            }
            if let stepFailure { throw stepFailure }
            return ready
        }

        func assign(_ body: @escaping @Sendable () -> Void) {
            condition.lock()
            if !dismissed { work = body }
            condition.unlock()
            // After unlocking: a thread woken while the lock is still held would run on this
            // core, block on the lock and hand the core back (measured: 0.5 ms before the
            // vCPU's turn came).
            condition.broadcast()
        }

        /// True if the thread had no work yet and will now end without any.
        func dismiss() -> Bool {
            condition.lock()
            defer { condition.unlock() }
            guard work == nil else { return false }
            dismissed = true
            condition.broadcast()
            return true
        }
    }
}
