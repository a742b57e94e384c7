/// Readiness bits for `DeviceEvents` (the values of Linux's EPOLLIN/EPOLLOUT/...), so devices
/// stay independent of the event loop that serves them.
public struct DeviceEventMask: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = DeviceEventMask(rawValue: 0x001)
    public static let writable = DeviceEventMask(rawValue: 0x004)
    public static let error = DeviceEventMask(rawValue: 0x008)
    public static let hangUp = DeviceEventMask(rawValue: 0x010)
    public static let peerClosed = DeviceEventMask(rawValue: 0x2000)
}

/// What a device with host-side descriptors (a TAP, Unix sockets) gets from the VMM: the device
/// thread's event loop, and a way to have one of its queues serviced there.
///
/// Everything here, and every handler, runs on the device thread only, which is also the thread
/// that runs `processQueue`; so a device needs no lock between its queue and descriptor work.
public protocol DeviceEvents: AnyObject {
    /// Calls `handler` on the device thread whenever `fd` is ready for `events`.
    func watch(_ fd: Int32, for events: DeviceEventMask,
               handler: @escaping (DeviceEventMask) -> Void) throws(DeviceEventsError)
    /// Changes what `fd` is watched for; an empty mask pauses it without forgetting the handler.
    func rewatch(_ fd: Int32, for events: DeviceEventMask)
    /// Forgets `fd` (before the device closes it).
    func unwatch(_ fd: Int32)
    /// Runs the transport's queue processing for `queue` (with its lock and interrupt logic),
    /// as a guest notification would: for a device that has new data for an RX queue.
    /// False when the transport will not drain the queue until the guest kicks it again (not
    /// activated, queue not ready, device needs reset): see `MMIOTransport.processQueue`.
    @discardableResult
    func serviceQueue(_ queue: Int) -> Bool
}

public struct DeviceEventsError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let errno: Int32
    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }
    public var description: String { "\(operation) failed (errno \(errno))" }
}

/// Adopted by devices that need `DeviceEvents`; the VMM connects them after placing them on
/// the bus and before any vCPU runs.
public protocol EventDrivenDevice: VirtioDevice {
    func connect(events: any DeviceEvents) throws(DeviceEventsError)
}
