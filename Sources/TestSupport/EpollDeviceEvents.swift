import CKiln
import Devices
#if canImport(Glibc)
import Glibc
#endif

/// `DeviceEvents` for device tests: a real epoll set (so edge-triggered registrations behave
/// as in the VMM) that the test pumps on its own thread, and `serviceQueue` straight into the
/// transport, as the VMM's device loop does.
public final class EpollDeviceEvents: DeviceEvents {
    private let epoll: Int32
    private var handlers: [Int32: (DeviceEventMask) -> Void] = [:]
    public weak var transport: MMIOTransport?
    public private(set) var servicedQueues: [Int] = []
    /// How many times each descriptor's handler ran: a device that spins on a level-triggered
    /// descriptor shows thousands here after a short `run`.
    public private(set) var handlerCalls: [Int32: Int] = [:]

    public init() {
        epoll = kiln_epoll_create()
        precondition(epoll >= 0, "epoll_create1 failed (errno \(errno))")
    }

    deinit { close(epoll) }

    public var watchedCount: Int { handlers.count }

    public func watch(_ fd: Int32, for events: DeviceEventMask,
                      handler: @escaping (DeviceEventMask) -> Void) throws(DeviceEventsError) {
        guard kiln_epoll_add(epoll, fd, events.rawValue) == 0 else {
            throw DeviceEventsError(operation: "epoll_ctl ADD fd \(fd)", errno: errno)
        }
        handlers[fd] = handler
    }

    public func rewatch(_ fd: Int32, for events: DeviceEventMask) { _ = kiln_epoll_modify(epoll, fd, events.rawValue) }

    public func unwatch(_ fd: Int32) {
        _ = kiln_epoll_remove(epoll, fd)
        handlers[fd] = nil
    }

    @discardableResult
    public func serviceQueue(_ queue: Int) -> Bool {
        servicedQueues.append(queue)
        return transport?.processQueue(queue) ?? false
    }

    /// One epoll_wait of at most `milliseconds`, dispatching what is ready; the number of events.
    @discardableResult
    public func pump(milliseconds: Int32 = 0) -> Int {
        var fds = [Int32](repeating: 0, count: 64), masks = [UInt32](repeating: 0, count: 64)
        let count = kiln_epoll_wait(epoll, &fds, &masks, 64, milliseconds)
        guard count > 0 else { return 0 }
        for index in 0..<Int(count) {
            guard let handler = handlers[fds[index]] else { continue }
            handlerCalls[fds[index], default: 0] += 1
            handler(DeviceEventMask(rawValue: masks[index]))
        }
        return Int(count)
    }

    /// Plays the device loop for `milliseconds` of wall time whatever happens (the VMM's loop
    /// never stops on its own), so a test can count what a handler did meanwhile.
    public func run(milliseconds: Int) {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: .milliseconds(milliseconds))
        while clock.now < end { pump(milliseconds: 10) }
    }

    /// Pumps until `condition` holds or `milliseconds` pass; whether it held.
    @discardableResult
    public func pump(until condition: () -> Bool, milliseconds: Int = 2000) -> Bool {
        var waited = 0
        while !condition() {
            guard waited < milliseconds else { return false }
            if pump(milliseconds: 10) == 0 { waited += 10 }
        }
        return true
    }
}
