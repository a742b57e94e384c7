/// The API thread (`kiln_api`, swift-nio's event loop): accept on the API socket, read and write
/// HTTP, wait in epoll, hand requests to the VMM thread over eventfds. No socket creation, no
/// open, no ioctl, no clone: the socket is bound before the filter goes in.
/// Evidence: strace -f of `kiln --api-sock` driven through a whole API lifecycle.
extension SyscallRule {
    static let api: [SyscallRule] = [
        allow("epoll_wait", because: "the event loop waits for the socket and its wake-up eventfd"),
        allow("epoll_ctl", because: "accepted connections join the loop and leave it"),
        allow("accept4", because: "a client connects to the API socket"),
        allow("read", because: "request bytes; the response eventfd from the VMM thread"),
        allow("write", because: "response bytes; the request eventfd to the VMM thread; event-loop wake-ups"),
        allow("writev", because: "swift-nio writes a response's head and body at once"),
        allow("close", because: "a client's connection ends"),
        allow("shutdown", because: "swift-nio half-closes a finished connection"),
        allow("getpeername", because: "swift-nio records an accepted connection's peer address"),
        allow("getsockname", because: "swift-nio records an accepted connection's local address"),
        allow("timerfd_settime", because: "swift-nio's scheduled tasks (idle connection timers)"),
        futex,
        gettid,
        getpid,
        rtSigprocmask,
        rtSigreturn,
        clockGettime,
        restartSyscall,
        mmapAnonymous,
        mprotectNoExec,
        munmap,
        madvise,
        brk,
        exit,
        exitGroup,
    ]
}
