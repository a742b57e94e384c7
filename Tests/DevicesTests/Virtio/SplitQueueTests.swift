import Devices
import GuestMemory
import TestSupport
import Testing

@Suite struct SplitQueueTests {
    let recorder = ChainRecorder(queueMaxSizes: [16])
    let driver: MockVirtioDriver

    init() {
        driver = MockVirtioDriver(device: recorder)
    }

    @Test func nothingIsProcessedBeforeDriverOK() {
        #expect(driver.negotiate(features: VirtioFeature.transportFeatures))
        let queue = driver.setUpQueue(0)
        queue.submit([driver.writable(4)])
        queue.notify()
        driver.transport.processQueue(0)
        #expect(recorder.walks.isEmpty)
        #expect(queue.usedIndex == 0)
        #expect(driver.interrupts.triggers == 0)
        driver.addStatus(.driverOK)
        queue.notify()
        #expect(recorder.walks.count == 1)
    }

    @Test func processQueueFromTheDeviceThreadWorksLikeANotify() {
        let queue = driver.start()[0]
        queue.submit([driver.writable(4)])
        queue.submit([driver.writable(2)])
        driver.transport.processQueue(0)
        #expect(queue.takeUsed() == [UsedElement(id: 0, length: 4), UsedElement(id: 1, length: 2)])
        #expect(driver.interruptStatus == .usedBuffer)
        #expect(driver.interrupts.triggers == 1)
        driver.transport.processQueue(0)  // nothing new: no interrupt
        #expect(driver.interrupts.triggers == 1)
        driver.transport.processQueue(-1)
        driver.transport.processQueue(1)
    }

    @Test func usedRingWrapsAroundTheQueue() {
        let queue = driver.start(queueSize: 4)[0]
        for round in 0..<10 {
            let head = queue.submit([driver.writable(round + 1)])
            queue.notify()
            #expect(queue.takeUsed() == [UsedElement(id: UInt32(head), length: UInt32(round + 1))])
        }
        #expect(queue.usedIndex == 10)
    }

    @Test func indicesWrapAt65536() {
        let queue = driver.start(queueSize: 4)[0]
        // Skip ahead by whole ring multiples, as a long-running guest would get there.
        for _ in 0..<(65536 / 4 + 1) {
            for _ in 0..<4 { queue.submit([driver.writable(0)]) }
            queue.notify()
            #expect(queue.takeUsed().count == 4)
        }
        #expect(queue.usedIndex == 4)
        #expect(!driver.status.contains(.needsReset))
    }

    @Test(arguments: [17, 100, 0x8000, 0xFFFF] as [UInt16])
    func availableIndexJumpMarksTheDeviceNeedsReset(index: UInt16) {
        let queue = driver.start()[0]
        queue.setAvailableIndex(index)
        queue.notify()
        #expect(recorder.walks.isEmpty)
        #expect(driver.status.contains(.needsReset))
        #expect(driver.interruptStatus.contains(.configChange))
        // Further notifications are ignored until reset; reset recovers.
        queue.notify()
        #expect(recorder.walks.isEmpty)
        driver.reset()
        #expect(!driver.status.contains(.needsReset))
        let fresh = driver.start()[0]
        fresh.submit([driver.writable(1)])
        fresh.notify()
        #expect(recorder.walks.count == 1)
    }

    @Test func availableIndexOfExactlyQueueSizeIsFine() {
        let queue = driver.start()[0]
        for _ in 0..<16 { queue.submit([driver.writable(1)]) }
        queue.notify()
        #expect(queue.takeUsed().count == 16)
        #expect(!driver.status.contains(.needsReset))
    }

    @Test func headOutOfRangeMarksTheDeviceNeedsReset() {
        let queue = driver.start()[0]
        queue.makeAvailable(16)
        queue.notify()
        #expect(driver.status.contains(.needsReset))
        #expect(recorder.walks.isEmpty)
    }

    @Test func chainsBeforeCorruptionAreStillReported() {
        let queue = driver.start()[0]
        queue.submit([driver.writable(4)])
        queue.makeAvailable(0xFFFF)
        queue.notify()
        #expect(queue.takeUsed() == [UsedElement(id: 0, length: 4)])
        #expect(driver.interruptStatus == [.usedBuffer, .configChange])
    }

    @Test func splitQueueValidation() throws {
        let memory = try GuestMemory(layout: [(start: GuestAddress(0), size: 0x10000)])
        var queue = SplitQueue(maxSize: 8)
        queue.descriptorTable = GuestAddress(0x1000)
        queue.availableRing = GuestAddress(0x2000)
        queue.usedRing = GuestAddress(0x3000)
        #expect(queue.isValid(in: memory))
        queue.usedRing = GuestAddress(0x3002)
        #expect(!queue.isValid(in: memory))  // used ring must be 4-aligned
        queue.usedRing = GuestAddress(0x10000 - 6 - 8 * 8 + 4)
        #expect(!queue.isValid(in: memory))  // runs past RAM by 4 bytes
        queue.usedRing = GuestAddress(0x10000 - 6 - 8 * 8 - 2)
        #expect(queue.isValid(in: memory))
        queue.availableRing = GuestAddress(UInt64.max - 1)
        #expect(!queue.isValid(in: memory))  // wraps
        queue.availableRing = GuestAddress(0x2001)
        #expect(!queue.isValid(in: memory))
        queue.availableRing = GuestAddress(0x2000)
        queue.descriptorTable = GuestAddress(0x1008)
        #expect(!queue.isValid(in: memory))
        #expect(queue.isValidSize(8) && queue.isValidSize(1) && !queue.isValidSize(16) && !queue.isValidSize(0))
    }
}

@Suite struct NotificationTests {
    let recorder = ChainRecorder(queueMaxSizes: [16])
    let driver: MockVirtioDriver

    init() {
        driver = MockVirtioDriver(device: recorder)
    }

    @Test func noInterruptFlagSuppressesInterruptsWithoutEventIndex() {
        let queue = driver.start(features: VirtioFeature.version1)[0]
        queue.setAvailableFlags(1)
        queue.submit([driver.writable(1)])
        queue.notify()
        #expect(queue.takeUsed().count == 1)
        #expect(driver.interrupts.triggers == 0)
        #expect(driver.interruptStatus == [])
        queue.setAvailableFlags(0)
        queue.submit([driver.writable(1)])
        queue.notify()
        #expect(driver.interrupts.triggers == 1)
        #expect(driver.interruptStatus == .usedBuffer)
    }

    @Test func noNotifyFlagIsClearedWhenTheDeviceGoesIdle() {
        let queue = driver.start(features: VirtioFeature.version1)[0]
        queue.submit([driver.writable(1)])
        queue.notify()
        #expect(queue.usedFlags == 0)
    }

    @Test func eventIndexIgnoresTheFlagAndHonoursUsedEvent() {
        let queue = driver.start()[0]
        queue.setAvailableFlags(1)  // meaningless with EVENT_IDX
        queue.setUsedEvent(2)       // interrupt once used idx passes 2, i.e. reaches 3
        for expected in [0, 0, 1, 1] {
            queue.submit([driver.writable(1)])
            queue.notify()
            #expect(driver.interrupts.triggers == expected)
        }
        #expect(queue.usedIndex == 4)
    }

    @Test func eventIndexBatchCrossingUsedEventInterruptsOnce() {
        let queue = driver.start()[0]
        queue.setUsedEvent(1)
        for _ in 0..<5 { queue.submit([driver.writable(1)]) }
        queue.notify()
        #expect(driver.interrupts.triggers == 1)
        // used_event left behind: no more interrupts.
        queue.submit([driver.writable(1)])
        queue.notify()
        #expect(driver.interrupts.triggers == 1)
    }

    @Test func eventIndexPublishesAvailEvent() {
        let queue = driver.start()[0]
        #expect(queue.availableEvent == 0)
        for _ in 0..<3 { queue.submit([driver.writable(1)]) }
        queue.notify()
        #expect(queue.availableEvent == 3)
        #expect(queue.usedFlags == 0)  // flags untouched with EVENT_IDX
    }

    @Test func eventIndexUsedEventZeroInterruptsOnFirstBuffer() {
        let queue = driver.start()[0]
        queue.submit([driver.writable(1)])
        queue.notify()
        #expect(driver.interrupts.triggers == 1)
    }
}

@Suite struct ProcessingLoopTests {
    let device = ScriptedDevice()
    let driver: MockVirtioDriver

    init() {
        driver = MockVirtioDriver(device: device)
    }

    @Test(arguments: [true, false])
    func bufferAddedWhileNotificationsWereOffIsNotStranded(eventIndex: Bool) {
        let queue = driver.start(features: eventIndex ? nil : VirtioFeature.version1)[0]
        queue.submit([driver.writable(1)])
        device.afterPass = {
            // The guest adds a buffer while the device is busy: it sees NO_NOTIFY (or an old
            // avail_event) and does not kick. The device must find it anyway.
            if !eventIndex { #expect(queue.usedFlags == 1) }
            queue.submit([self.driver.writable(1)])
        }
        queue.notify()
        #expect(device.consumed == 2)
        #expect(device.passes == 2)
        #expect(queue.takeUsed().count == 2)
    }

    @Test func deviceThatLeavesBuffersDoesNotSpin() {
        let queue = driver.start()[0]
        device.consumes = false
        queue.submit([driver.writable(1)])
        queue.notify()
        #expect(device.passes == 1)
        #expect(driver.interrupts.triggers == 0)
        // Later (host data arrived) the VMM calls processQueue and the buffer is used.
        device.consumes = true
        driver.transport.processQueue(0)
        #expect(queue.takeUsed().count == 1)
        #expect(driver.interrupts.triggers == 1)
    }
}
