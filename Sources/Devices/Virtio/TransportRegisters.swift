/// The register state of an MMIO transport that is not per queue, guarded by the transport's
/// register lock. Its initial value is the state after reset. Plain data, so a snapshot keeps
/// it as it is (`TransportState`).
public struct TransportRegisters: Equatable, Sendable {
    public var status: DeviceStatus = []
    public var deviceFeaturesSelect: UInt32 = 0
    public var driverFeaturesSelect: UInt32 = 0
    /// What the driver acknowledged (both halves).
    public var driverFeatures: UInt64 = 0
    public var queueSelect: UInt32 = 0
    public var sharedMemorySelect: UInt32 = 0
    /// Survives reset: a driver comparing generations across a reset must still see a change.
    public var configGeneration: UInt32 = 0

    public init(status: DeviceStatus = [], deviceFeaturesSelect: UInt32 = 0, driverFeaturesSelect: UInt32 = 0,
                driverFeatures: UInt64 = 0, queueSelect: UInt32 = 0, sharedMemorySelect: UInt32 = 0,
                configGeneration: UInt32 = 0) {
        self.status = status
        self.deviceFeaturesSelect = deviceFeaturesSelect
        self.driverFeaturesSelect = driverFeaturesSelect
        self.driverFeatures = driverFeatures
        self.queueSelect = queueSelect
        self.sharedMemorySelect = sharedMemorySelect
        self.configGeneration = configGeneration
    }

    /// Queue registers are the driver's to write between FEATURES_OK and DRIVER_OK only
    /// (3.1.1 step 7); before that the features that shape the rings are not settled, after
    /// it the device is using them.
    var queueSetupAllowed: Bool { status == [.acknowledge, .driver, .featuresOK] }

    /// Features may change only while the driver is choosing them (3.1.1 step 5).
    var featureWriteAllowed: Bool { status == [.acknowledge, .driver] }

    /// The 32-bit half of a 64-bit feature word that `select` picks (0 low, 1 high, else none).
    static func half(of features: UInt64, select: UInt32) -> UInt32 {
        switch select {
        case 0: UInt32(truncatingIfNeeded: features)
        case 1: UInt32(truncatingIfNeeded: features >> 32)
        default: 0
        }
    }

    mutating func writeDriverFeatures(_ value: UInt32) {
        switch driverFeaturesSelect {
        case 0: driverFeatures = driverFeatures & 0xFFFF_FFFF_0000_0000 | UInt64(value)
        case 1: driverFeatures = driverFeatures & 0x0000_0000_FFFF_FFFF | UInt64(value) << 32
        default: break
        }
    }

    /// Back to the reset state, keeping the generation counter running.
    mutating func reset() {
        self = TransportRegisters(configGeneration: configGeneration)
    }
}
