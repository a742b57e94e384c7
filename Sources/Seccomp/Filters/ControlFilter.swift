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
        allow("poll", because: "the VMM thread waits for the next API request between halt probes"),
        allow("read", because: "the API request eventfd"),
        allow("write", because: "stop eventfd, API response eventfd, metrics and log lines, serial flush, messages on stderr"),
        allow("close", because: "teardown closes VM, vCPU and eventfd descriptors"),
        allow("unlink", because: "teardown removes the vsock device's uds_path listening socket"),
        // PATCH /drives path_on_host (Firecracker's VMM thread opens drives too): existing files
        // only, as kiln opens them (close-on-exec), read-only or read-write; and PUT
        // /snapshot/create's new files: write-only, created or truncated. Never O_PATH or
        // O_TMPFILE, never created for reading. One masked comparison: libseccomp takes one
        // condition per argument and rule.
        allow("openat", .argument(2, masked: LinuxABI.oCreat | LinuxABI.oTrunc | LinuxABI.oPath | LinuxABI.oTmpfile
                                      | LinuxABI.oCloexec | LinuxABI.oAccessMode,
                                  isOneOf: [LinuxABI.oCloexec, LinuxABI.oCloexec | LinuxABI.oRdwr,
                                            LinuxABI.oWronly | LinuxABI.oCreat | LinuxABI.oTrunc | LinuxABI.oCloexec]),
              because: "PATCH /drives opens the drive's new backing file; PUT /snapshot/create writes the state and memory files"),
        allow("ioctl", .argument(1, isOneOf: KVMRequest.snapshotReads),
              because: "PUT /snapshot/create reads the paused vCPUs' and the VM's state (GET ioctls only)"),
        allow("pwrite64", because: "PUT /snapshot/create writes guest memory and the state file"),
        allow("ftruncate", because: "PUT /snapshot/create sizes the memory file (sparse)"),
        allow("fsync", because: "PUT /snapshot/create makes the state file durable before renaming it"),
        allow("rename", because: "PUT /snapshot/create renames the complete files into place"),
        allow("fstat", because: "PATCH /drives checks the new backing file is a regular file or block device"),
        allow("newfstatat", .argument(3, hasAll: LinuxABI.atEmptyPath),
              because: "glibc's fstat is fstatat(fd, \"\", AT_EMPTY_PATH)"),
        allow("lseek", because: "PATCH /drives: the new backing file's size (SEEK_END)"),
        allow("timerfd_settime", because: "PATCH of a drive or interface rate limiter fires its timer at once (RateLimiter.update)"),
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
