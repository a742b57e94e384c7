import Devices
import Synchronization

/// `DeviceEvents` without an event loop: remembers what is watched and with which mask, and
/// lets the test play the loop (`fireReadable`). `serviceQueue` goes to the transport, as the
/// VMM's does.
public final class MockDeviceEvents: DeviceEvents, @unchecked Sendable {
    public struct Watch {
        public var mask: DeviceEventMask
        public var handler: (DeviceEventMask) -> Void
    }

    private weak var transport: MMIOTransport?
    public private(set) var watches: [Int32: Watch] = [:]
    /// Every `rewatch` mask, in order, to check the device neither spins nor forgets to resume.
    public private(set) var rewatchLog: [DeviceEventMask] = []
    public private(set) var servicedQueues: [Int] = []

    public init(transport: MMIOTransport) { self.transport = transport }

    public func watch(_ fd: Int32, for events: DeviceEventMask,
                      handler: @escaping (DeviceEventMask) -> Void) throws(DeviceEventsError) {
        watches[fd] = Watch(mask: events, handler: handler)
    }

    public func rewatch(_ fd: Int32, for events: DeviceEventMask) {
        watches[fd]?.mask = events
        rewatchLog.append(events)
    }

    public func unwatch(_ fd: Int32) { watches[fd] = nil }

    @discardableResult
    public func serviceQueue(_ queue: Int) -> Bool {
        servicedQueues.append(queue)
        return transport?.processQueue(queue) ?? false
    }

    public func mask(of fd: Int32) -> DeviceEventMask? { watches[fd]?.mask }

    /// Runs `fd`'s handler as the loop would when it is readable, only if it is watched for
    /// reading (an epoll with an empty mask reports nothing). Returns whether it ran.
    @discardableResult
    public func fireReadable(_ fd: Int32) -> Bool {
        guard let watch = watches[fd], watch.mask.contains(.readable) else { return false }
        watch.handler(.readable)
        return true
    }
}
