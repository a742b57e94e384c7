/// The main thread once the VM is built and every other thread has been spawned: halt watch,
/// stop, join, teardown, exit. No clone: it cannot start threads after this. No ioctl: it only
/// signals vCPUs, never issues KVM calls, once they run.
/// Evidence: strace of the main thread after its last clone, for every test guest.
extension SyscallRule {
    static let control: [SyscallRule] = [
        allow("clock_nanosleep", because: "the halt watch sleeps between probes (usleep)"),
        futex,
        gettid,
        getpid,
        tgkillKick,
        rtSigprocmask,
        allow("write", because: "stop eventfd, serial flush, the outcome and error messages on stderr"),
        allow("close", because: "teardown closes VM, vCPU and eventfd descriptors"),
        allow("unlink", because: "teardown removes the vsock device's uds_path listening socket"),
        munmap,
        restartSyscall,
        rtSigreturn,
        clockGettime,
        mmapAnonymous,
        mprotectNoExec,
        madvise,
        brk,
        exitGroup,
    ]
}
