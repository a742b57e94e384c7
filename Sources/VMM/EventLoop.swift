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
    private var handlers: [Int32: Handler] = [:]
    private var readyDescriptors = [Int32](repeating: 0, count: 64)
    private var readyEvents = [UInt32](repeating: 0, count: 64)
    private var stopping = false

    init() throws(VMMError) {
        epoll = kiln_epoll_create()
        guard epoll >= 0 else { throw .thread(operation: "epoll_create1", errno: errno) }
        wake = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        guard wake >= 0 else { throw .thread(operation: "eventfd for the device loop", errno: errno) }
        try add(wake, events: KILN_EPOLLIN) { [unowned self] _ in
            var value: UInt64 = 0
            _ = kiln_eventfd_consume(wake, &value)
            stopping = true
        }
    }

    deinit {
        close(wake)
        close(epoll)
    }

    func add(_ fd: Int32, events: UInt32, handler: @escaping Handler) throws(VMMError) {
        guard kiln_epoll_add(epoll, fd, events) == 0 else { throw .thread(operation: "epoll_ctl ADD fd \(fd)", errno: errno) }
        handlers[fd] = handler
    }

    /// Changes what `fd` is watched for (0 pauses it). Called from handlers on the loop thread.
    func modify(_ fd: Int32, events: UInt32) {
        _ = kiln_epoll_modify(epoll, fd, events)
    }

    func remove(_ fd: Int32) {
        _ = kiln_epoll_remove(epoll, fd)
        handlers[fd] = nil
    }

    /// Runs handlers until `stop()`.
    func run() {
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
                handlers[readyDescriptors[index]]?(readyEvents[index])
            }
        }
    }

    /// Ends `run()` from any thread.
    func stop() { _ = kiln_eventfd_signal(wake) }
}
