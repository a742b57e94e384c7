/// The API thread (`kiln_api`, APIServer's epoll loop): accept on the API socket, read and write
/// HTTP, wait in epoll, hand requests to the VMM thread over eventfds. No socket creation, no
/// open, no ioctl, no clone: the socket is bound before the filter goes in.
/// Evidence: strace -f of `kiln --api-sock` driven through a whole API lifecycle.
extension SyscallRule {
    static let api: [SyscallRule] = [
        allow("epoll_wait", because: "the thread waits for the listening socket and its connections"),
        allow("epoll_ctl", because: "accepted connections join the loop and leave it"),
        allow("accept4", because: "a client connects to the API socket"),
        allow("read", because: "request bytes; the response eventfd from the VMM thread"),
        allow("write", because: "response bytes; the request and delivery eventfds to the VMM thread"),
        allow("close", because: "a client's connection ends"),
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
