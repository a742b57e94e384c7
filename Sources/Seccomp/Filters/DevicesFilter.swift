/// The device event loop (`kiln_devices`) and the blocking console reader (`kiln_console`,
/// used when standard input cannot be polled), from the start of their bodies.
/// Evidence: strace of serial_echo with piped, slow and long input, of hello with /dev/null and
/// a pipe on stdin, of virtio_blk (read-write, read-only, two drives) and virtio_rng, of every
/// other test guest; virtio-net RX/TX (readv/writev on the TAP) by reading Devices/Virtio/Net;
/// rate limiters and the vsock accept retry (timerfd_settime) by reading Devices/RateLimit and
/// VsockMuxer+Listener;
/// for vsock, the device's unit tests and the E2E vsock scenarios under the filter; for virtio-fs,
/// the system calls Devices/Virtio/Fs/HostFiles.swift and CFileServer make (the file server's
/// whole window on the host) and the E2E share scenario under the filter. Hot calls first.
extension SyscallRule {
    static let devices: [SyscallRule] = [
        allow("epoll_wait", because: "the event loop"),
        allow("read", because: "eventfds (queue notifications, UART space, stop), standard input"),
        allow("write", because: "irqfd eventfds (virtio and UART interrupts), error messages"),
        allow("epoll_ctl", because: "pause, resume and remove standard input; pause and resume a TAP"),
        allow("readv", because: "virtio-net reads a frame from the TAP, vsock host socket bytes, straight into guest RX buffers"),
        allow("writev", because: "virtio-net writes a TX chain to the TAP straight from guest memory"),
        allow("preadv", because: "virtio-blk (sync engine) reads a request into its guest buffers in one call; virtio-fs READ straight into the guest's buffers"),
        allow("pwritev", because: "virtio-blk (sync engine) writes a request from its guest buffers in one call"),
        allow("preadv2", .argument(5, isOneOf: [LinuxABI.rwfNowait]),
              because: "virtio-blk (async engine) reads a page-cache hit at once, RWF_NOWAIT only (anything that would wait goes to the ring)"),
        allow("pwritev2", .argument(5, isOneOf: [LinuxABI.rwfNowait]),
              because: "virtio-blk (async engine) writes at once where the file system takes RWF_NOWAIT writes, RWF_NOWAIT only"),
        allow("io_uring_enter", because: "virtio-blk (async engine) submits requests; the ring was set up and its eventfd registered at construction, before any filter (io_uring_setup and io_uring_register stay forbidden)"),
        allow("fdatasync", because: "virtio-blk flush"),
        allow("getrandom", because: "virtio-rng fills guest buffers from the host CSPRNG (getentropy)"),
        allow("timerfd_settime", because: "a virtio-blk/net rate limiter arms its timer for when a blocked queue may go on; vsock retries accept after running out of descriptors"),
        allow("sendmsg", .argument(2, isOneOf: [LinuxABI.msgNosignal | LinuxABI.msgDontwait]),
              because: "vsock: guest bytes to a host socket (MSG_NOSIGNAL: a vanished peer is EPIPE, not SIGPIPE)"),
        allow("accept4", .argument(3, isOneOf: [LinuxABI.sockNonblock | LinuxABI.sockCloexec]),
              because: "vsock: host clients connecting to uds_path"),
        allow("socket", .argument(0, isOneOf: [LinuxABI.afUnix]),
              .argument(1, isOneOf: [LinuxABI.sockStream | LinuxABI.sockNonblock | LinuxABI.sockCloexec]),
              .argument(2, isOneOf: [0]),
              because: "vsock: a guest connection to host port P opens a Unix stream socket (no other family)"),
        allow("connect", because: "vsock: ... and connects it to <uds_path>_P"),
        allow("shutdown", .argument(1, isOneOf: [LinuxABI.shutWrite]),
              because: "vsock: the guest's SHUTDOWN SEND becomes EOF for the host peer"),
        allow("close", because: "vsock: closing host sockets of finished connections; virtio-fs: FORGET and RELEASE close a node's or handle's descriptor"),
        // virtio-fs (read-only file server beneath each shared directory). Nothing here creates,
        // writes or removes a file: plain open/openat stay forbidden, so O_CREAT cannot be asked for
        // by any path the filter lets through except openat2's struct, which only HostFiles fills.
        allow("openat2", because: "virtio-fs: LOOKUP/OPEN/OPENDIR resolve one name beneath its parent's descriptor (RESOLVE_BENEATH | NO_SYMLINKS | NO_MAGICLINKS | NO_XDEV); the flags live in struct open_how, which seccomp cannot read, so openat2 is the only open the role has"),
        allow("newfstatat", .argument(3, isOneOf: [LinuxABI.atEmptyPath]),
              because: "virtio-fs: fstat of a node's descriptor (glibc: newfstatat(fd, \"\", buf, AT_EMPTY_PATH)) for LOOKUP/GETATTR; no other flags, so it never follows a symlink"),
        allow("readlinkat", because: "virtio-fs: READLINK reads a link through its own O_PATH descriptor (empty path); the target is returned, never followed"),
        allow("pread64", because: "virtio-fs: READ into the reply buffer when the guest's buffers cannot take it directly"),
        allow("lseek", because: "virtio-fs: READDIR resumes a directory at the guest's offset"),
        allow("getdents64", because: "virtio-fs: READDIR/READDIRPLUS list a directory"),
        allow("fstatfs", because: "virtio-fs: STATFS of the shared file system"),
        allow("fgetxattr", because: "virtio-fs: GETXATTR through a node's descriptor"),
        allow("flistxattr", because: "virtio-fs: LISTXATTR through a node's descriptor"),
        futex,
        gettid,
        allow("clock_nanosleep", because: "kiln_console waits for UART FIFO space (usleep)"),
        restartSyscall,
        rtSigreturn,
        rtSigprocmask,
        clockGettime,
        mmapAnonymous,
        mprotectNoExec,
        munmap,
        madvise,
        brk,
        exit,
        exitGroup,
    ]
}
