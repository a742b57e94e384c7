/// The device status field (virtio 1.x, 2.1) and the order in which a driver may set its bits.
public struct DeviceStatus: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let acknowledge = DeviceStatus(rawValue: 1)
    public static let driver = DeviceStatus(rawValue: 2)
    public static let driverOK = DeviceStatus(rawValue: 4)
    public static let featuresOK = DeviceStatus(rawValue: 8)
    public static let needsReset = DeviceStatus(rawValue: 64)
    public static let failed = DeviceStatus(rawValue: 128)

    /// What a write of `requested` to the status register asks the transport to do.
    public enum Transition: Equatable, Sendable {
        /// Writing 0 resets the device (2.1.1 / 4.2.2.1).
        case reset
        /// Set FEATURES_OK if the negotiated features are acceptable.
        case acceptFeatures
        /// Set DRIVER_OK and bring the device to life.
        case activate
        /// Store the new value; no other effect (ACKNOWLEDGE, DRIVER, FAILED).
        case store(DeviceStatus)
        /// Out of order, clears a bit, or the device already failed: leave the status alone.
        case ignore
    }

    /// The initialisation sequence of 3.1.1, one bit at a time, as Linux and Firecracker do
    /// it. The driver "MUST NOT clear a device status bit", so any write that drops a bit
    /// other than by resetting is ignored; FAILED may be added at any point and freezes the
    /// sequence until reset. NEEDS_RESET belongs to the device: a driver that read it and
    /// writes the value back with one more bit is judged on the other bits.
    public static func transition(from current: DeviceStatus, to written: UInt32) -> Transition {
        if written == 0 { return .reset }
        let requested = DeviceStatus(rawValue: written).subtracting(.needsReset)
        let current = current.subtracting(.needsReset)
        if requested == current { return .ignore }
        let writable: DeviceStatus = [.acknowledge, .driver, .featuresOK, .driverOK, .failed]
        guard writable.isSuperset(of: requested), requested.isSuperset(of: current) else { return .ignore }
        if current.contains(.failed) { return .ignore }
        if requested.contains(.failed) { return .store(requested) }
        switch (current, requested) {
        case ([], [.acknowledge]):
            return .store(requested)
        case ([.acknowledge], [.acknowledge, .driver]):
            return .store(requested)
        case ([.acknowledge, .driver], [.acknowledge, .driver, .featuresOK]):
            return .acceptFeatures
        case ([.acknowledge, .driver, .featuresOK], [.acknowledge, .driver, .featuresOK, .driverOK]):
            return .activate
        default:
            return .ignore
        }
    }
}
