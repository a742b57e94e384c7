/// Rules that several roles list with the same argument conditions. Each role's file still
/// names every rule it uses, so one file shows the whole allow-list of a role.
extension SyscallRule {
    /// The futex commands glibc and Swift use: WAIT/WAKE (glibc locks, condition variables),
    /// WAIT_BITSET (pthread_join, condvars), LOCK_PI/UNLOCK_PI/TRYLOCK_PI (Swift's
    /// `Synchronization.Mutex`). REQUEUE, CMP_REQUEUE, WAKE_OP and the *_REQUEUE_PI commands, the
    /// ones behind past futex exploits, stay forbidden.
    static let futex = allow("futex", .argument(1, masked: LinuxABI.futexCommandMask, isOneOf: [
        LinuxABI.futexWait, LinuxABI.futexWake, LinuxABI.futexWaitBitset, LinuxABI.futexWakeBitset,
        LinuxABI.futexLockPI, LinuxABI.futexUnlockPI, LinuxABI.futexTrylockPI,
    ]), because: "Mutex (stop coordinator, devices) under contention; pthread_join")

    /// malloc's anonymous mappings, never executable and never of a file: no new code can be
    /// mapped after the filter is in place.
    static let mmapAnonymous = allow("mmap", .argument(2, hasNone: LinuxABI.protExec),
                                     .argument(3, hasAll: LinuxABI.mapAnonymous),
                                     because: "malloc: large blocks and new arenas (anonymous, not executable)")
    static let mprotectNoExec = allow("mprotect", .argument(2, hasNone: LinuxABI.protExec),
                                      because: "malloc grows an arena by making reserved pages writable (never executable)")
    static let munmap = allow("munmap", because: "free of large blocks; teardown unmaps guest memory and kvm_run")
    static let madvise = allow("madvise", because: "thread exit releases its stack (MADV_DONTNEED); malloc trims")
    static let brk = allow("brk", because: "malloc's main arena")

    /// Kicks are the only signal a Kiln thread sends, and only the kick signal.
    static let tgkillKick = allow("tgkill", .argument(2, isOneOf: [LinuxABI.vcpuKickSignal]),
                                  because: "pthread_kill(vCPU, SIGUSR1) knocks a vCPU out of KVM_RUN")
    static let getpid = allow("getpid", because: "pthread_kill asks for the process id before tgkill")
    static let gettid = allow("gettid", because: "Swift's Mutex stores the owner's thread id")
    static let rtSigprocmask = allow("rt_sigprocmask", because: "pthread_kill and thread exit block signals")
    static let rtSigreturn = allow("rt_sigreturn", because: "return from the SIGUSR1 handler (unblocked in every Kiln thread)")
    static let clockGettime = allow("clock_gettime", because: "the vDSO falls back to the syscall on hosts whose clocksource it cannot read")
    static let restartSyscall = allow("restart_syscall", because: "the kernel resumes an interrupted sleep this way after SIGSTOP/SIGCONT")
    static let exit = allow("exit", because: "the thread's end")
    static let exitGroup = allow("exit_group", because: "exit() on an error path ends the process from this thread")
}
