import CKiln
import Devices
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The VMM's device thread in miniature, running on a thread of its own: one epoll set serving
/// several devices (each with its own `DeviceEvents`), queue notifications arriving through
/// eventfds as KVM's ioeventfds deliver them. For tests that must see the loop keep going
/// while the test thread only watches (a handler that blocks would hang a pumped loop, and
/// with it the test, instead of failing it).
///
/// Registrations happen before `start()` or on the loop's own thread (devices re-watching from
/// their handlers), as in the VMM's `EventLoop`; the test thread only rings doorbells.
public final class DeviceLoopThread: @unchecked Sendable {
    private let epoll: Int32
    private let stopFD: Int32
    private var handlers: [Int32: (UInt32) -> Void] = [:]
    private var doorbells: [Doorbell] = []
    /// Devices hold their `DeviceEvents` weakly (the VMM's device inventory owns them): so do we.
    private var deviceEvents: [Events] = []
    private var thread: TestThread?
    private let stopping = Atomic<Bool>(false)

    /// A queue's notification: `ring()` from any thread makes the loop process that queue.
    public final class Doorbell: Sendable {
        let fd: Int32
        init(fd: Int32) { self.fd = fd }
        public func ring() { _ = kiln_eventfd_signal(fd) }
    }

    public init() {
        epoll = kiln_epoll_create()
        stopFD = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        precondition(epoll >= 0 && stopFD >= 0, "epoll/eventfd failed (errno \(errno))")
        add(stopFD, events: KILN_EPOLLIN) { [unowned self] _ in stopping.store(true, ordering: .releasing) }
    }

    deinit {
        stop()
        for doorbell in doorbells { close(doorbell.fd) }
        close(stopFD)
        close(epoll)
    }

    /// The `DeviceEvents` of the device behind `transport`.
    public func events(for transport: MMIOTransport) -> any DeviceEvents {
        let events = Events(loop: self, transport: transport)
        deviceEvents.append(events)
        return events
    }

    /// An eventfd in the loop that processes `queue` of `transport` when rung.
    public func doorbell(_ transport: MMIOTransport, queue: Int) -> Doorbell {
        let fd = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        precondition(fd >= 0, "eventfd failed (errno \(errno))")
        let doorbell = Doorbell(fd: fd)
        doorbells.append(doorbell)
        add(fd, events: KILN_EPOLLIN) { _ in
            var value: UInt64 = 0
            _ = kiln_eventfd_consume(fd, &value)
            transport.processQueue(queue)
        }
        return doorbell
    }

    public func start() {
        precondition(thread == nil)
        thread = TestThread { [self] in run() }
    }

    /// Ends the loop once the handler it is in returns; waits for its thread.
    public func stop() {
        guard let thread else { return }
        _ = kiln_eventfd_signal(stopFD)
        thread.join()
        self.thread = nil
    }

    private func run() {
        var fds = [Int32](repeating: 0, count: 64), masks = [UInt32](repeating: 0, count: 64)
        while !stopping.load(ordering: .acquiring) {
            let count = kiln_epoll_wait(epoll, &fds, &masks, 64, -1)
            for index in 0..<max(Int(count), 0) { handlers[fds[index]]?(masks[index]) }
        }
    }

    private func add(_ fd: Int32, events: UInt32, handler: @escaping (UInt32) -> Void) {
        precondition(kiln_epoll_add(epoll, fd, events) == 0, "epoll_ctl ADD failed (errno \(errno))")
        handlers[fd] = handler
    }

    private final class Events: DeviceEvents, @unchecked Sendable {
        unowned let loop: DeviceLoopThread
        unowned let transport: MMIOTransport

        init(loop: DeviceLoopThread, transport: MMIOTransport) {
            self.loop = loop
            self.transport = transport
        }

        func watch(_ fd: Int32, for events: DeviceEventMask,
                   handler: @escaping (DeviceEventMask) -> Void) throws(DeviceEventsError) {
            guard kiln_epoll_add(loop.epoll, fd, events.rawValue) == 0 else {
                throw DeviceEventsError(operation: "epoll_ctl ADD fd \(fd)", errno: errno)
            }
            loop.handlers[fd] = { handler(DeviceEventMask(rawValue: $0)) }
        }

        func rewatch(_ fd: Int32, for events: DeviceEventMask) { _ = kiln_epoll_modify(loop.epoll, fd, events.rawValue) }

        func unwatch(_ fd: Int32) {
            _ = kiln_epoll_remove(loop.epoll, fd)
            loop.handlers[fd] = nil
        }

        @discardableResult
        func serviceQueue(_ queue: Int) -> Bool { transport.processQueue(queue) }
    }
}
