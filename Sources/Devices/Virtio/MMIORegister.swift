/// Offsets of the virtio-mmio version 2 register map (virtio 1.x, 4.2.2). Every register is
/// 32 bits wide; the device-specific configuration space starts at `config`.
public enum MMIORegister {
    public static let magicValue: UInt64 = 0x000
    public static let version: UInt64 = 0x004
    public static let deviceID: UInt64 = 0x008
    public static let vendorID: UInt64 = 0x00c
    public static let deviceFeatures: UInt64 = 0x010
    public static let deviceFeaturesSelect: UInt64 = 0x014
    public static let driverFeatures: UInt64 = 0x020
    public static let driverFeaturesSelect: UInt64 = 0x024
    public static let queueSelect: UInt64 = 0x030
    public static let queueNumMax: UInt64 = 0x034
    public static let queueNum: UInt64 = 0x038
    public static let queueReady: UInt64 = 0x044
    public static let queueNotify: UInt64 = 0x050
    public static let interruptStatus: UInt64 = 0x060
    public static let interruptACK: UInt64 = 0x064
    public static let status: UInt64 = 0x070
    public static let queueDescLow: UInt64 = 0x080
    public static let queueDescHigh: UInt64 = 0x084
    public static let queueDriverLow: UInt64 = 0x090
    public static let queueDriverHigh: UInt64 = 0x094
    public static let queueDeviceLow: UInt64 = 0x0a0
    public static let queueDeviceHigh: UInt64 = 0x0a4
    public static let sharedMemorySelect: UInt64 = 0x0ac
    public static let sharedMemoryLengthLow: UInt64 = 0x0b0
    public static let sharedMemoryLengthHigh: UInt64 = 0x0b4
    public static let sharedMemoryBaseLow: UInt64 = 0x0b8
    public static let sharedMemoryBaseHigh: UInt64 = 0x0bc
    public static let configGeneration: UInt64 = 0x0fc
    public static let config: UInt64 = 0x100

    /// "virt" in little-endian.
    public static let magic: UInt32 = 0x7472_6976
    /// The non-legacy register layout.
    public static let currentVersion: UInt32 = 2
}

/// Bits of the InterruptStatus register (4.2.2).
public struct InterruptStatus: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// At least one queue has new used buffers the driver asked to hear about.
    public static let usedBuffer = InterruptStatus(rawValue: 1)
    /// The configuration space changed, or the device needs a reset.
    public static let configChange = InterruptStatus(rawValue: 2)
}
