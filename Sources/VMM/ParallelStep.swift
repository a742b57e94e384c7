import KVM
import Synchronization

/// A start-up step run on its own thread while the caller goes on; `finish()` joins it and
/// rethrows its error. Used for KVM calls that mostly wait in the kernel. Not generic over the
/// error type: instantiating a generic class whose parameter must conform to `Error` made the
/// runtime scan every protocol conformance in the binary (~0.3 M instructions) at start-up.
final class ParallelStep: Sendable {
    private let thread: NativeThread
    private let outcome: Outcome

    private final class Outcome: Sendable {
        let failure = Mutex<KVMError?>(nil)
    }

    private init(thread: NativeThread, outcome: Outcome) {
        self.thread = thread
        self.outcome = outcome
    }

    static func start(name: String, _ body: @escaping @Sendable () throws(KVMError) -> Void) throws(VMMError) -> ParallelStep {
        let outcome = Outcome()
        let thread = try NativeThread.spawn(name: name) {
            do throws(KVMError) { try body() } catch { outcome.failure.withLock { $0 = error } }
        }
        return ParallelStep(thread: thread, outcome: outcome)
    }

    func finish() throws(KVMError) {
        thread.join()
        if let error = outcome.failure.withLock({ $0 }) { throw error }
    }
}
