import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// A named POSIX thread. Kiln runs each vCPU and the device loop on its own thread, which
/// seccomp filters and `/proc/PID/task/*/comm` can tell apart by name.
final class NativeThread: @unchecked Sendable {
    private(set) var handle: pthread_t = 0
    private let name: String
    private let body: @Sendable () -> Void
    private let capabilities: ThreadCapabilities.Kind

    private init(name: String, capabilities: ThreadCapabilities.Kind, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.capabilities = capabilities
        self.body = body
    }

    /// `capabilities`: what the thread holds (ThreadCapabilities); it drops the rest before its
    /// body runs.
    static func spawn(name: String, capabilities: ThreadCapabilities.Kind = .none,
                      _ body: @escaping @Sendable () -> Void) throws(VMMError) -> NativeThread {
        let thread = NativeThread(name: name, capabilities: capabilities, body: body)
        let context = Unmanaged.passRetained(thread).toOpaque()
        let result = pthread_create(&thread.handle, nil, { raw in
            let thread = Unmanaged<NativeThread>.fromOpaque(raw!).takeRetainedValue()
            ThreadCapabilities.enterThread(thread.capabilities)
            // Linux limits thread names to 15 bytes.
            _ = kiln_set_thread_name(String(thread.name.prefix(15)))
            VcpuKickSignal.unblockInCurrentThread()
            thread.body()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<NativeThread>.fromOpaque(context).release()
            throw .thread(operation: "pthread_create \(name)", errno: result)
        }
        return thread
    }

    func join() { pthread_join(handle, nil) }

    /// Interrupts a blocking system call (KVM_RUN) in this thread with the vCPU kick signal.
    func kick() { pthread_kill(handle, VcpuKickSignal.number) }
}

/// The signal that interrupts KVM_RUN. Its handler does nothing: delivery alone makes the
/// ioctl return EINTR, and `immediate_exit` covers a signal that lands before KVM_RUN starts.
enum VcpuKickSignal {
    static let number: Int32 = SIGUSR1

    /// Installs the handler and unblocks the signal in the calling thread (threads inherit the
    /// mask; a parent that spawned kiln with it blocked would otherwise make kicks vanish).
    static func install() {
        unblockInCurrentThread()
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(number, &action, nil)
    }

    /// Clears the signal mask inherited from whoever spawned kiln (test runners and some
    /// supervisors block SIGTERM and friends), so that kiln can be stopped the usual way.
    static func unblockAllSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        pthread_sigmask(SIG_SETMASK, &set, nil)
    }

    static func unblockInCurrentThread() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, number)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
