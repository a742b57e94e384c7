import Devices
import GuestMemory
import TestSupport
import Testing

@Suite struct MMIOTransportTests {
    let device = ConfigDevice()
    let driver: MockVirtioDriver

    init() {
        driver = MockVirtioDriver(device: device)
    }

    let allFeatures: UInt64 = 1 << 0 | 1 << 35 | VirtioFeature.transportFeatures

    @Test func identificationRegisters() {
        #expect(driver.read(MMIORegister.magicValue) == 0x7472_6976)
        #expect(driver.read(MMIORegister.version) == 2)
        #expect(driver.read(MMIORegister.deviceID) == 3)
        #expect(driver.read(MMIORegister.vendorID) == 0)
        #expect(driver.transport.queueNotifyOffset == 0x50)
        #expect(MMIOTransport.windowSize == 0x1000)
    }

    @Test func deviceFeaturesIncludeTransportBits() {
        #expect(driver.deviceFeatures == allFeatures)
        driver.write(MMIORegister.deviceFeaturesSelect, 2)
        #expect(driver.read(MMIORegister.deviceFeatures) == 0)
    }

    @Test func initialisationSequenceReachesDriverOK() {
        #expect(driver.status == [])
        #expect(driver.negotiate(features: allFeatures))
        _ = driver.setUpQueue(0)
        _ = driver.setUpQueue(1)
        driver.addStatus(.driverOK)
        #expect(driver.status == [.acknowledge, .driver, .featuresOK, .driverOK])
        #expect(driver.transport.isActivated)
    }

    @Test func featuresOKRefusedWithoutVersion1() {
        #expect(!driver.negotiate(features: 1 << 0))
        #expect(driver.status == [.acknowledge, .driver])
        // The driver gives up, as 3.1.1 says; the device then ignores DRIVER_OK.
        driver.addStatus(.failed)
        driver.addStatus(.driverOK)
        #expect(driver.status == [.acknowledge, .driver, .failed])
        #expect(!driver.transport.isActivated)
    }

    @Test func featuresOKRefusedForUnofferedBits() {
        #expect(!driver.negotiate(features: VirtioFeature.version1 | 1 << 7))
        #expect(!driver.status.contains(.featuresOK))
    }

    @Test func driverFeaturesAreFrozenAfterFeaturesOK() {
        #expect(driver.negotiate(features: VirtioFeature.version1))
        driver.writeDriverFeatures(allFeatures)  // too late: ignored
        _ = driver.setUpQueue(0)
        driver.addStatus(.driverOK)
        #expect(driver.transport.isActivated)
        // EVENT_IDX was not negotiated, so the device keeps using the flags scheme.
    }

    @Test(arguments: [
        [DeviceStatus.driver],                                   // skips ACKNOWLEDGE
        [DeviceStatus.acknowledge, .featuresOK],                 // skips DRIVER
        [DeviceStatus.acknowledge, .driverOK],                   // DRIVER_OK first
        [DeviceStatus.needsReset],                               // device-owned bit
        [DeviceStatus(rawValue: 0x10)],                          // reserved bit
    ])
    func outOfOrderStatusWritesAreIgnored(status: DeviceStatus) {
        driver.writeStatus(status)
        #expect(driver.status == [])
    }

    @Test func statusBitsCannotBeCleared() {
        driver.addStatus(.acknowledge)
        driver.addStatus(.driver)
        driver.writeStatus(.acknowledge)
        #expect(driver.status == [.acknowledge, .driver])
    }

    @Test func failedFreezesTheSequenceUntilReset() {
        driver.addStatus(.acknowledge)
        driver.addStatus(.failed)
        driver.addStatus(.driver)
        #expect(driver.status == [.acknowledge, .failed])
        driver.reset()
        #expect(driver.status == [])
        #expect(driver.negotiate(features: allFeatures))
    }

    @Test func queueRegistersNeedFeaturesOK() {
        driver.addStatus(.acknowledge)
        driver.addStatus(.driver)
        driver.write(MMIORegister.queueSelect, 0)
        driver.write(MMIORegister.queueNum, 4)
        driver.write(MMIORegister.queueReady, 1)
        #expect(driver.read(MMIORegister.queueReady) == 0)
    }

    @Test func queueNumMaxPerQueueAndZeroForMissingQueues() {
        driver.write(MMIORegister.queueSelect, 0)
        #expect(driver.read(MMIORegister.queueNumMax) == 8)
        driver.write(MMIORegister.queueSelect, 1)
        #expect(driver.read(MMIORegister.queueNumMax) == 4)
        driver.write(MMIORegister.queueSelect, 2)
        #expect(driver.read(MMIORegister.queueNumMax) == 0)
        driver.write(MMIORegister.queueSelect, .max)
        #expect(driver.read(MMIORegister.queueNumMax) == 0)
        #expect(driver.read(MMIORegister.queueReady) == 0)
    }

    @Test(arguments: [0, 3, 6, 16, 0x1_0000, UInt32.max] as [UInt32])
    func invalidQueueNumIsRefused(size: UInt32) {
        let driver = MockVirtioDriver(device: ChainRecorder(queueMaxSizes: [8]))
        #expect(driver.negotiate(features: VirtioFeature.transportFeatures))
        driver.write(MMIORegister.queueSelect, 0)
        driver.write(MMIORegister.queueNum, 4)
        driver.write(MMIORegister.queueNum, size)  // refused: the queue keeps 4
        let queue = driver.allocateQueue(0, size: 4)
        driver.writeQueueAddresses(queue)
        driver.write(MMIORegister.queueReady, 1)
        driver.addStatus(.driverOK)
        #expect(driver.transport.isActivated)
        #expect(!driver.status.contains(.needsReset))
        for _ in 0..<5 {  // wraps a ring of 4: only right if the device uses size 4
            queue.submit([driver.writable(8)])
            queue.notify()
            #expect(queue.takeUsed().count == 1)
        }
    }

    @Test func queueConfigIsLockedWhileReadyAndAfterDriverOK() {
        let driver = MockVirtioDriver(device: ChainRecorder(queueMaxSizes: [8]))
        #expect(driver.negotiate(features: VirtioFeature.transportFeatures))
        let queue = driver.setUpQueue(0, size: 4)
        // Ready: moving the rings or resizing is refused (0xFFFFF000 is outside RAM, so
        // activation would fail had it been taken).
        driver.write(MMIORegister.queueDescLow, 0xFFFF_F000)
        driver.write(MMIORegister.queueNum, 2)
        driver.addStatus(.driverOK)
        #expect(driver.transport.isActivated)
        // After DRIVER_OK neither QueueReady nor the addresses can change.
        driver.write(MMIORegister.queueReady, 0)
        #expect(driver.read(MMIORegister.queueReady) == 1)
        driver.write(MMIORegister.queueDriverLow, 0xFFFF_F000)
        for _ in 0..<5 {
            queue.submit([driver.writable(8)])
            queue.notify()
            #expect(queue.takeUsed().count == 1)
        }
        #expect(!driver.status.contains(.needsReset))
    }

    @Test func queueReadyCanBeClearedDuringSetup() {
        #expect(driver.negotiate(features: allFeatures))
        _ = driver.setUpQueue(0)
        driver.write(MMIORegister.queueReady, 0)
        #expect(driver.read(MMIORegister.queueReady) == 0)
        driver.write(MMIORegister.queueReady, 2)  // not 0 or 1: ignored
        #expect(driver.read(MMIORegister.queueReady) == 0)
    }

    @Test func readyQueueOutsideRAMMakesActivationFail() {
        #expect(driver.negotiate(features: allFeatures))
        _ = driver.setUpQueue(0)
        driver.write(MMIORegister.queueSelect, 1)
        driver.write(MMIORegister.queueNum, 4)
        driver.write(MMIORegister.queueDescLow, 0)
        driver.write(MMIORegister.queueDescHigh, 1)  // 4 GiB: beyond the 1 MiB of RAM
        driver.write(MMIORegister.queueReady, 1)
        driver.addStatus(.driverOK)
        #expect(!driver.transport.isActivated)
        #expect(driver.status.contains(.needsReset))
        #expect(driver.interruptStatus == .configChange)
        #expect(driver.interrupts.triggers == 1)
    }

    @Test func misalignedRingMakesActivationFail() {
        #expect(driver.negotiate(features: allFeatures))
        let queue = driver.setUpQueue(0)
        driver.write(MMIORegister.queueReady, 0)
        driver.write(MMIORegister.queueDeviceLow, UInt32(queue.usedRing.rawValue) + 2)
        driver.write(MMIORegister.queueReady, 1)
        driver.addStatus(.driverOK)
        #expect(driver.status.contains(.needsReset))
    }

    @Test func activationFailureOfTheDeviceSetsNeedsReset() {
        let driver = MockVirtioDriver(device: ConfigDevice(failActivation: true))
        _ = driver.start()
        #expect(driver.status == [.acknowledge, .driver, .featuresOK, .driverOK, .needsReset])
        #expect(driver.interrupts.triggers == 1)
        driver.reset()
        #expect(driver.status == [])
        #expect(driver.interruptStatus == [])
    }

    @Test func resetReturnsEverythingToInitialState() {
        let recorder = ChainRecorder(queueMaxSizes: [16])
        let driver = MockVirtioDriver(device: recorder)
        let queue = driver.start(queueSize: 8)[0]
        queue.submit([driver.writable(4)])
        queue.notify()
        #expect(driver.interruptStatus == .usedBuffer)
        driver.write(MMIORegister.queueSelect, 0)
        driver.reset()

        #expect(driver.status == [])
        #expect(!driver.transport.isActivated)
        #expect(driver.interruptStatus == [])
        #expect(driver.read(MMIORegister.queueReady) == 0)
        #expect(driver.read(MMIORegister.queueNumMax) == 16)
        #expect(recorder.resetCount == 1)
        // Notifications after reset do nothing.
        queue.submit([driver.writable(4)])
        queue.notify()
        #expect(recorder.walks.count == 1)
        // Features are forgotten: a second start negotiates afresh, and the queue restarts
        // from index 0 with the new rings.
        let again = driver.start(features: VirtioFeature.version1, queueSize: 4)[0]
        again.submit([driver.writable(4)])
        again.notify()
        #expect(again.takeUsed().count == 1)
        #expect(recorder.activatedFeatures == [VirtioFeature.transportFeatures, VirtioFeature.version1])
    }

    /// A pass that takes nothing (an Async block device only reporting completions) while the
    /// driver, on another vCPU, adds a buffer without a kick because notifications were off:
    /// the transport must look again rather than leave that buffer until some later kick.
    @Test func aBufferAddedWithoutAKickDuringAPassThatTookNothingIsServed() {
        let device = RacingDriverDevice()
        let driver = MockVirtioDriver(device: device)
        let queue = driver.start(queueSize: 8)[0]
        device.duringFirstPass = { queue.submit([driver.writable(4)]) }
        queue.notify()
        #expect(queue.takeUsed().count == 1, "the buffer added during the pass was left waiting")
        #expect(device.passes == 2)
    }

    @Test func configSpaceReadsAndWritesWithinBounds() {
        #expect(driver.readConfig(0, count: 4) == [0, 1, 2, 3])
        #expect(driver.readConfig(8, count: 4) == [8, 9, 10, 11])
        #expect(driver.readConfig(11, count: 1) == [11])
        #expect(driver.readConfig(4, count: 8) == [4, 5, 6, 7, 8, 9, 10, 11])
        driver.writeConfig(2, [0xAB, 0xCD])
        #expect(device.config[2...3] == [0xAB, 0xCD])
    }

    @Test(arguments: [(9, 4), (12, 1), (0xEFF, 1), (11, 2), (0x10, 8)] as [(UInt64, Int)])
    func configSpaceOutOfBoundsReadsZeroAndDropsWrites(offset: UInt64, count: Int) {
        #expect(driver.readConfig(offset, count: count) == [UInt8](repeating: 0, count: count))
        driver.writeConfig(offset, [UInt8](repeating: 0xFF, count: count))
        #expect(device.config == Array(0..<12))
    }

    @Test func configGenerationCountsChangesAndInterruptsOnlyWhenLive() {
        #expect(driver.read(MMIORegister.configGeneration) == 0)
        driver.transport.notifyConfigChange()
        #expect(driver.read(MMIORegister.configGeneration) == 1)
        #expect(driver.interrupts.triggers == 0)
        _ = driver.start()
        driver.transport.notifyConfigChange()
        #expect(driver.read(MMIORegister.configGeneration) == 2)
        #expect(driver.interruptStatus == .configChange)
        #expect(driver.interrupts.triggers == 1)
        driver.acknowledge(.configChange)
        #expect(driver.interruptStatus == [])
    }

    @Test func interruptAckClearsOnlyTheGivenBits() {
        let recorder = ChainRecorder()
        let driver = MockVirtioDriver(device: recorder)
        let queue = driver.start()[0]
        queue.submit([driver.writable(4)])
        queue.notify()
        driver.transport.notifyConfigChange()
        #expect(driver.interruptStatus == [.usedBuffer, .configChange])
        driver.acknowledge(.configChange)
        #expect(driver.interruptStatus == .usedBuffer)
        driver.acknowledge(.usedBuffer)
        #expect(driver.interruptStatus == [])
    }

    @Test(arguments: [(0x000, 1), (0x000, 2), (0x000, 8), (0x002, 4), (0x001, 1), (0x071, 1)] as [(UInt64, Int)])
    func oddRegisterReadsReturnZero(offset: UInt64, count: Int) {
        #expect(driver.readBytes(offset, count: count) == [UInt8](repeating: 0, count: count))
    }

    @Test func oddRegisterWritesAreDropped() {
        driver.writeBytes(MMIORegister.status, [1])
        driver.writeBytes(MMIORegister.status, [1, 0])
        driver.writeBytes(MMIORegister.status, [1, 0, 0, 0, 0, 0, 0, 0])
        driver.writeBytes(MMIORegister.status + 1, [1, 0, 0, 0])
        #expect(driver.status == [])
        driver.writeBytes(MMIORegister.status, [1, 0, 0, 0])
        #expect(driver.status == .acknowledge)
    }

    @Test func writeOnlyAndReservedRegistersReadZero() {
        for offset: UInt64 in [0x014, 0x020, 0x030, 0x038, 0x050, 0x064, 0x080, 0x0a4, 0x0c0, 0x0f8] {
            #expect(driver.read(offset) == 0, "offset \(offset)")
        }
    }

    @Test func noSharedMemoryRegions() {
        driver.write(MMIORegister.sharedMemorySelect, 0)
        #expect(driver.read(MMIORegister.sharedMemoryLengthLow) == .max)
        #expect(driver.read(MMIORegister.sharedMemoryLengthHigh) == .max)
    }

    @Test func notifyForMissingQueueIsIgnored() {
        _ = driver.start()
        driver.write(MMIORegister.queueNotify, 7)
        driver.write(MMIORegister.queueNotify, .max)
        #expect(driver.interrupts.triggers == 0)
        #expect(!driver.status.contains(.needsReset))
    }

    @Test func writtenStatusCarryingNeedsResetIsJudgedOnTheOtherBits() {
        let driver = MockVirtioDriver(device: ConfigDevice(failActivation: true))
        _ = driver.start()
        // Linux's virtio_add_status reads (including NEEDS_RESET) and writes back with FAILED.
        driver.addStatus(.failed)
        #expect(driver.status.contains(.failed))
    }
}

@Suite struct DeviceStatusTransitionTests {
    @Test func transitionTable() {
        typealias S = DeviceStatus
        #expect(S.transition(from: [], to: 0) == .reset)
        #expect(S.transition(from: [.acknowledge, .driver], to: 0) == .reset)
        #expect(S.transition(from: [], to: 1) == .store(.acknowledge))
        #expect(S.transition(from: .acknowledge, to: 3) == .store([.acknowledge, .driver]))
        #expect(S.transition(from: [.acknowledge, .driver], to: 11) == .acceptFeatures)
        #expect(S.transition(from: [.acknowledge, .driver, .featuresOK], to: 15) == .activate)
        #expect(S.transition(from: [.acknowledge, .driver, .featuresOK, .driverOK], to: 15) == .ignore)
        #expect(S.transition(from: [.acknowledge, .driver], to: 7) == .ignore)
        #expect(S.transition(from: .acknowledge, to: 0x81) == .store([.acknowledge, .failed]))
        #expect(S.transition(from: [.acknowledge, .failed], to: 0x83) == .ignore)
        #expect(S.transition(from: [], to: 0x41) == .store(.acknowledge))
    }
}
