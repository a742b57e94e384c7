import GuestMemory

/// An MMIO transport as a snapshot keeps it: its registers, the interrupt and reset state a
/// driver reads, and every queue. With it, the device type and the features it offered, so a
/// state is never restored into a device that differs from the one it was saved from.
public struct TransportState: Equatable, Sendable {
    public var deviceType: UInt32
    public var offeredFeatures: UInt64
    public var registers: TransportRegisters
    /// InterruptStatus bits the driver has not acknowledged.
    public var interruptStatus: UInt32
    /// DEVICE_NEEDS_RESET was raised (a ring error, or a failed activation).
    public var needsReset: Bool
    /// DRIVER_OK was accepted and the device started.
    public var activated: Bool
    public var queues: [QueueState]

    /// More queues than any device has: bounds what a decoder allocates.
    static let queueLimit = 64

    public init(deviceType: UInt32, offeredFeatures: UInt64, registers: TransportRegisters, interruptStatus: UInt32,
                needsReset: Bool, activated: Bool, queues: [QueueState]) {
        self.deviceType = deviceType
        self.offeredFeatures = offeredFeatures
        self.registers = registers
        self.interruptStatus = interruptStatus
        self.needsReset = needsReset
        self.activated = activated
        self.queues = queues
    }

    /// The statuses the driver can have brought the device to: a prefix of the initialisation
    /// sequence of 3.1.1 (the transport ignores writes out of order), or with FAILED any
    /// writable bits (FAILED may be added at any point and freezes the sequence).
    static func isReachable(_ status: DeviceStatus) -> Bool {
        let writable: DeviceStatus = [.acknowledge, .driver, .featuresOK, .driverOK, .failed]
        guard writable.isSuperset(of: status) else { return false }
        if status.contains(.failed) { return true }
        let sequence: [DeviceStatus] = [[], [.acknowledge], [.acknowledge, .driver],
                                        [.acknowledge, .driver, .featuresOK],
                                        [.acknowledge, .driver, .featuresOK, .driverOK]]
        return sequence.contains(status)
    }

    /// What holds whatever the device: the status and flags agree with one another.
    func checkConsistency() throws(SnapshotStateError) {
        let status = registers.status
        guard Self.isReachable(status) else { throw .invalidValue(field: "status", value: UInt64(status.rawValue)) }
        let interruptBits: InterruptStatus = [.usedBuffer, .configChange]
        guard interruptStatus & ~interruptBits.rawValue == 0 else {
            throw .invalidValue(field: "interrupt status", value: UInt64(interruptStatus))
        }
        if activated && !status.contains(.driverOK) {
            throw .inconsistent("activated without DRIVER_OK")
        }
        if status.contains(.driverOK) && !activated && !needsReset {
            throw .inconsistent("DRIVER_OK without activation or NEEDS_RESET")
        }
        if needsReset && !status.contains(.driverOK) {
            throw .inconsistent("NEEDS_RESET before DRIVER_OK")
        }
        if status.contains(.featuresOK) && !VirtioFeature.isAcceptable(registers.driverFeatures, offered: offeredFeatures) {
            throw .inconsistent("FEATURES_OK with features the device did not offer")
        }
        if queues.contains(where: \.isReady) && !status.contains(.featuresOK) {
            throw .inconsistent("a queue is ready before FEATURES_OK")
        }
    }

    /// Checks the state against the device it is restored into and guest memory.
    func validate(deviceType device: UInt32, offeredFeatures offered: UInt64, queueMaxSizes: [UInt16],
                  memory: GuestMemory) throws(SnapshotStateError) {
        guard deviceType == device else { throw .mismatch(field: "device type", saved: UInt64(deviceType), device: UInt64(device)) }
        guard offeredFeatures == offered else {
            throw .mismatch(field: "offered features", saved: offeredFeatures, device: offered)
        }
        guard queues.count == queueMaxSizes.count else {
            throw .mismatch(field: "queue count", saved: UInt64(queues.count), device: UInt64(queueMaxSizes.count))
        }
        try checkConsistency()
        let features = registers.driverFeatures
        for (index, queue) in queues.enumerated() {
            try queue.validate(index: index, deviceMaxSize: queueMaxSizes[index], memory: memory, activated: activated,
                               eventIndex: features & VirtioFeature.eventIndex != 0,
                               indirect: features & VirtioFeature.indirectDescriptors != 0)
        }
    }
}

extension TransportState: StateCodable {
    public func encode(to writer: inout StateWriter) {
        writer.write(deviceType)
        writer.write(offeredFeatures)
        writer.write(registers.status.rawValue)
        writer.write(registers.deviceFeaturesSelect)
        writer.write(registers.driverFeaturesSelect)
        writer.write(registers.driverFeatures)
        writer.write(registers.queueSelect)
        writer.write(registers.sharedMemorySelect)
        writer.write(registers.configGeneration)
        writer.write(interruptStatus)
        writer.write(needsReset)
        writer.write(activated)
        writer.writeCount(queues.count)
        for queue in queues { queue.encode(to: &writer) }
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        let deviceType = try reader.read(UInt32.self, "device type")
        let offeredFeatures = try reader.read(UInt64.self, "offered features")
        let registers = TransportRegisters(
            status: DeviceStatus(rawValue: try reader.read(UInt32.self, "status")),
            deviceFeaturesSelect: try reader.read(UInt32.self, "device features select"),
            driverFeaturesSelect: try reader.read(UInt32.self, "driver features select"),
            driverFeatures: try reader.read(UInt64.self, "driver features"),
            queueSelect: try reader.read(UInt32.self, "queue select"),
            sharedMemorySelect: try reader.read(UInt32.self, "shared memory select"),
            configGeneration: try reader.read(UInt32.self, "config generation"))
        let interruptStatus = try reader.read(UInt32.self, "interrupt status")
        let needsReset = try reader.readBool("needs reset")
        let activated = try reader.readBool("activated")
        let count = try reader.readCount("queues", limit: Self.queueLimit)
        var queues: [QueueState] = []
        for _ in 0..<count { queues.append(try QueueState(from: &reader)) }
        self.init(deviceType: deviceType, offeredFeatures: offeredFeatures, registers: registers,
                  interruptStatus: interruptStatus, needsReset: needsReset, activated: activated, queues: queues)
        try checkConsistency()
    }
}
