import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// The device thread's epoll loop: every host-side event source of the VM (queue-notify
/// ioeventfds, TAP and socket descriptors, standard input) is one file descriptor with a handler.
/// Handlers are registered before the loop runs and then run only on the loop's thread;
/// waiting uses preallocated buffers, so an event costs no allocation.
final class EventLoop: @unchecked Sendable {
    typealias Handler = (_ events: UInt32) -> Void

    private let epoll: Int32
    private let wake: Int32
    private let quiescePoint: LoopQuiesce
    private struct Watch {
        var handler: Handler
        /// Out of the epoll set while its owner cannot take input (see `modify`).
        var paused = false
    }

    /// Indexed by descriptor (descriptors are small and dense). A dictionary keyed by `Int32`
    /// made the runtime scan every protocol conformance in the binary at start-up (~0.3 M
    /// instructions); an index is also cheaper per event than a hash.
    private var handlers: [Watch?] = []
    private var readyDescriptors = [Int32](repeating: 0, count: 64)
    private var readyEvents = [UInt32](repeating: 0, count: 64)
    private var stopping = false
    /// Handler calls so far (tests count them to show a paused descriptor costs nothing).
    private(set) var dispatched: UInt64 = 0

    init() throws(VMMError) {
        epoll = kiln_epoll_create()
        guard epoll >= 0 else { throw .thread(operation: "epoll_create1", errno: errno) }
        wake = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        guard wake >= 0 else { throw .thread(operation: "eventfd for the device loop", errno: errno) }
        quiescePoint = try LoopQuiesce()
        try add(wake, events: KILN_EPOLLIN) { [unowned self] _ in
            var value: UInt64 = 0
            _ = kiln_eventfd_consume(wake, &value)
            stopping = true
        }
        try add(quiescePoint.eventFD, events: KILN_EPOLLIN) { [quiescePoint] _ in quiescePoint.serve() }
    }

    deinit {
        close(wake)
        close(epoll)
    }

    func add(_ fd: Int32, events: UInt32, handler: @escaping Handler) throws(VMMError) {
        guard fd >= 0 else { throw .thread(operation: "epoll_ctl ADD fd \(fd)", errno: EBADF) }
        guard kiln_epoll_add(epoll, fd, events) == 0 else { throw .thread(operation: "epoll_ctl ADD fd \(fd)", errno: errno) }
        while handlers.count <= Int(fd) { handlers.append(nil) }
        handlers[Int(fd)] = Watch(handler: handler)
    }

    private func watch(_ fd: Int32) -> Watch? {
        fd >= 0 && Int(fd) < handlers.count ? handlers[Int(fd)] : nil
    }

    /// Changes what `fd` is watched for; 0 pauses it. Called from handlers on the loop thread.
    /// A paused descriptor leaves the epoll set (its handler is kept): epoll reports EPOLLHUP
    /// and EPOLLERR even for an empty mask, so a hung-up pipe or TAP "paused" with 0 would
    /// call its handler again and again while its owner cannot take input.
    func modify(_ fd: Int32, events: UInt32) {
        guard let paused = watch(fd)?.paused else { return }
        switch (paused, events == 0) {
        case (false, false): _ = kiln_epoll_modify(epoll, fd, events)
        case (false, true): _ = kiln_epoll_remove(epoll, fd)
        case (true, false): _ = kiln_epoll_add(epoll, fd, events)
        case (true, true): return
        }
        handlers[Int(fd)]?.paused = events == 0
    }

    func remove(_ fd: Int32) {
        guard let watch = watch(fd) else { return }
        if !watch.paused { _ = kiln_epoll_remove(epoll, fd) }
        handlers[Int(fd)] = nil
    }

    /// Runs handlers until `stop()`.
    func run() {
        quiescePoint.loopStarted()
        defer { quiescePoint.loopEnded() }
        while !stopping {
            let count = readyDescriptors.withUnsafeMutableBufferPointer { fds in
                readyEvents.withUnsafeMutableBufferPointer { events in
                    kiln_epoll_wait(epoll, fds.baseAddress, events.baseAddress, Int32(fds.count), -1)
                }
            }
            if count < 0 {
                if errno == EINTR { continue }
                return
            }
            for index in 0..<Int(count) {
                guard let watch = watch(readyDescriptors[index]), !watch.paused else { continue }
                dispatched &+= 1
                watch.handler(readyEvents[index])
            }
        }
    }

    /// From any thread but the loop's: runs `body` between two handlers (or at once, if the
    /// loop is not running) and returns its result. While it runs no device handler does and
    /// no queue is processed from the loop; with the vCPUs paused too, device state read in
    /// `body` is whole (a snapshot's save). `body` must not call `quiesce` itself.
    func quiesce<T>(_ body: () -> T) -> T { quiescePoint.run(body) }

    /// Ends `run()` from any thread.
    func stop() { _ = kiln_eventfd_signal(wake) }
}
