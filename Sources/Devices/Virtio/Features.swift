/// Feature bits of the virtio 1.x specification that the transport and the split ring
/// implement themselves; device-specific bits (0-23) are declared by each device.
public enum VirtioFeature {
    /// Descriptors may point at a table of further descriptors (2.7.5.3).
    public static let indirectDescriptors: UInt64 = 1 << 28
    /// `used_event` / `avail_event` replace the flags-based notification suppression (2.7.7).
    public static let eventIndex: UInt64 = 1 << 29
    /// The device follows the 1.x specification rather than the legacy interface. Kiln has no
    /// legacy interface, so a driver that does not accept this bit cannot drive it.
    public static let version1: UInt64 = 1 << 32

    /// What every Kiln transport offers on top of the device's own bits.
    public static let transportFeatures: UInt64 = indirectDescriptors | eventIndex | version1

    /// True when the driver's choice is one the device can honour: a subset of what was
    /// offered, and modern (VERSION_1). Anything else must leave FEATURES_OK unset (2.2.2).
    public static func isAcceptable(_ driverFeatures: UInt64, offered: UInt64) -> Bool {
        driverFeatures & ~offered == 0 && driverFeatures & version1 != 0
    }
}
