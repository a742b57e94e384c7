import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// Lets another thread run a closure on the device loop's thread between two handlers: while
/// it runs no device handler does, so device state read there is whole (a snapshot's save).
///
/// The requester waits on a condition variable, the loop is woken by an eventfd it watches.
/// When the loop is not running (not started yet, or ended), nothing can run a handler, and
/// the closure runs on the requester's thread instead; the lock makes starting or ending the
/// loop wait for a closure in progress. One request at a time; a closure must not ask again.
final class LoopQuiesce: @unchecked Sendable {
    let eventFD: Int32
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let served = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var loopRunning = false
    /// The closure waiting for the loop; nil once it ran.
    private var pending: (() -> Void)?

    init() throws(VMMError) {
        eventFD = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        guard eventFD >= 0 else { throw .thread(operation: "eventfd for device quiesce", errno: errno) }
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(served, nil)
    }

    deinit {
        close(eventFD)
        pthread_cond_destroy(served)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        served.deallocate()
    }

    /// Any thread but the loop's: runs `body` with no handler running, and returns its result.
    func run<T>(_ body: () -> T) -> T {
        var result: T?
        withoutActuallyEscaping({ result = body() }) { work in
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            while pending != nil { pthread_cond_wait(served, mutex) }
            guard loopRunning else {
                work()
                return
            }
            pending = work
            _ = kiln_eventfd_signal(eventFD)
            // The loop clears `pending` after running it, or runs it on its way out.
            while pending != nil { pthread_cond_wait(served, mutex) }
        }
        return result!
    }

    /// Loop thread, as `run()` starts and as it ends.
    func loopStarted() { setRunning(true) }
    func loopEnded() { setRunning(false) }

    /// Loop thread, when `eventFD` is readable: runs the waiting closure, if any.
    func serve() {
        var value: UInt64 = 0
        _ = kiln_eventfd_consume(eventFD, &value)
        pthread_mutex_lock(mutex)
        runPending()
        pthread_mutex_unlock(mutex)
    }

    private func setRunning(_ running: Bool) {
        pthread_mutex_lock(mutex)
        loopRunning = running
        // A request that arrived as the loop was ending still runs, here, before it ends.
        runPending()
        pthread_mutex_unlock(mutex)
    }

    private func runPending() {
        guard let work = pending else { return }
        work()
        pending = nil
        pthread_cond_broadcast(served)
    }
}
