import Devices
import GuestMemory
import TestSupport
import Testing

/// The transport's save and restore, through virtio-rng (the simplest real device).
@Suite struct TransportSnapshotTests {
    /// An entropy device driven to a used ring of `requests` answers.
    struct Running {
        let rng = Rng(source: PatternSource())
        let driver: MockVirtioDriver
        let queue: MockQueue

        init(requests: Int = 3) {
            driver = MockVirtioDriver(device: rng)
            queue = driver.start()[0]
            driver.write(MMIORegister.queueSelect, 0)
            for _ in 0..<requests {
                queue.submit([driver.writable(8)])
                queue.notify()
            }
            #expect(queue.takeUsed().count == requests)
        }

        /// A fresh device behind the same guest, not restored yet.
        func freshDevice(queueSize: UInt16 = Rng.defaultQueueSize) -> (Rng, MMIOTransport) {
            let fresh = Rng(source: PatternSource(), queueSize: queueSize)
            return (fresh, driver.replaceDevice(with: fresh))
        }
    }

    @Test func restoredQueueContinuesWhereTheSavedOneStopped() throws {
        let running = Running()
        let saved = running.driver.transport.save(running.rng)
        #expect(saved.transport.activated)
        #expect(saved.transport.queues[0].nextAvailable == 3)
        #expect(saved.transport.queues[0].nextUsed == 3)
        #expect(saved.transport.registers.driverFeatures == running.driver.deviceFeatures)
        let decoded = try reencoded(saved)

        let (fresh, transport) = running.freshDevice()
        try transport.restore(decoded, into: fresh)
        let driver = running.driver
        #expect(driver.status == [.acknowledge, .driver, .featuresOK, .driverOK])
        #expect(driver.deviceFeatures == VirtioFeature.transportFeatures)
        // The next request lands in the next used slot, with the next used index.
        let buffer = driver.writable(5)
        let triggers = driver.interrupts.triggers
        let head = running.queue.submit([buffer])
        running.queue.notify()
        #expect(running.queue.takeUsed() == [UsedElement(id: UInt32(head), length: 5)])
        #expect(running.queue.usedIndex == 4)
        #expect(driver.bytes(of: buffer) == [0x5A, 0x5B, 0x5C, 0x5D, 0x5E])
        // EVENT_IDX carried over: used_event is still 0, already signalled before the save.
        #expect(driver.interrupts.triggers == triggers)
        // Asking for an interrupt after entry 4 gets one for the fifth answer.
        running.queue.setUsedEvent(4)
        running.queue.submit([driver.writable(1)])
        running.queue.notify()
        #expect(running.queue.takeUsed().count == 1)
        #expect(driver.interrupts.triggers == triggers + 1)
        #expect(transport.save(fresh).transport.queues[0].nextUsed == 5)
    }

    @Test func transportStateRoundTripsAndRefusesHostileEncodings() throws {
        let running = Running(requests: 2)
        let saved = running.driver.transport.save(running.rng)
        _ = try reencoded(saved.transport)
        expectHostileEncodingsRefused(saved, VirtioState<RngState>.self)
    }

    @Test func unstartedDeviceRestoresToItsSetupState() throws {
        let rng = Rng()
        let driver = MockVirtioDriver(device: rng)
        driver.negotiate(features: driver.deviceFeatures)
        driver.write(MMIORegister.queueSelect, 0)
        driver.write(MMIORegister.queueNum, 64)
        let saved = driver.transport.save(rng)
        #expect(!saved.transport.activated)
        let fresh = Rng()
        let transport = driver.replaceDevice(with: fresh)
        try transport.restore(try reencoded(saved), into: fresh)
        #expect(driver.status == [.acknowledge, .driver, .featuresOK])
        // The driver finishes its set-up on the restored device.
        let queue = driver.allocateQueue(0, size: 64)
        driver.writeQueueAddresses(queue)
        driver.write(MMIORegister.queueReady, 1)
        driver.addStatus(.driverOK)
        let head = queue.submit([driver.writable(4)])
        queue.notify()
        #expect(queue.takeUsed() == [UsedElement(id: UInt32(head), length: 4)])
    }

    @Test func invalidQueuesAreRefusedAndNothingIsApplied() throws {
        let running = Running()
        let saved = running.driver.transport.save(running.rng)
        let (fresh, transport) = running.freshDevice()

        var tooBig = saved
        tooBig.transport.queues[0].size = 512
        #expect(throws: SnapshotStateError.invalidValue(field: "queue 0 size", value: 512)) {
            try transport.restore(tooBig, into: fresh)
        }
        var outside = saved
        let end = running.driver.memoryEnd.rawValue
        outside.transport.queues[0].usedRing = end - 8
        #expect(throws: SnapshotStateError.outsideMemory(field: "queue 0 used ring", address: end - 8)) {
            try transport.restore(outside, into: fresh)
        }
        var misaligned = saved
        misaligned.transport.queues[0].descriptorTable += 8
        #expect(throws: SnapshotStateError.self) { try transport.restore(misaligned, into: fresh) }
        var runaway = saved
        runaway.transport.queues[0].nextAvailable = saved.transport.queues[0].nextUsed &+ 300
        #expect(throws: SnapshotStateError.self) { try transport.restore(runaway, into: fresh) }
        var otherFeatures = saved
        otherFeatures.transport.registers.driverFeatures |= 1 << 40
        #expect(throws: SnapshotStateError.self) { try transport.restore(otherFeatures, into: fresh) }

        // None of that touched the device: it is still unstarted, and the good state restores.
        #expect(running.driver.status == [])
        #expect(running.driver.read(MMIORegister.queueReady) == 0)
        try transport.restore(saved, into: fresh)
        #expect(running.driver.status.contains(.driverOK))
    }

    @Test func stateOfAnotherDeviceIsRefused() throws {
        let running = Running()
        let saved = running.driver.transport.save(running.rng)
        // Queues of another size.
        let (small, smallTransport) = running.freshDevice(queueSize: 128)
        #expect(throws: SnapshotStateError.mismatch(field: "queue 0 max size", saved: 256, device: 128)) {
            try smallTransport.restore(saved, into: small)
        }
        // Another device type under the same device state.
        var block = saved
        block.transport.deviceType = VirtioDeviceType.block.rawValue
        let (fresh, transport) = running.freshDevice()
        #expect(throws: SnapshotStateError.mismatch(field: "device type", saved: 2, device: 4)) {
            try transport.restore(block, into: fresh)
        }
    }

    @Test func restoreIntoADeviceThatStartedIsRefused() throws {
        let running = Running()
        let saved = running.driver.transport.save(running.rng)
        #expect(throws: SnapshotStateError.deviceInUse) { try running.driver.transport.restore(saved, into: running.rng) }
    }

    @Test func impossibleStatusIsRefusedWhenDecoded() throws {
        let running = Running()
        var saved = running.driver.transport.save(running.rng)
        saved.transport.registers.status = [.acknowledge, .driverOK]
        #expect(throws: SnapshotStateError.invalidValue(field: "status", value: 5)) {
            try VirtioState<RngState>(decoding: saved.encoded)
        }
        saved.transport.registers.status = [.acknowledge, .driver, .featuresOK, .driverOK]
        saved.transport.activated = false
        #expect(throws: SnapshotStateError.self) { try VirtioState<RngState>(decoding: saved.encoded) }
        saved.transport.activated = true
        saved.transport.interruptStatus = 4
        #expect(throws: SnapshotStateError.invalidValue(field: "interrupt status", value: 4)) {
            try VirtioState<RngState>(decoding: saved.encoded)
        }
    }

    @Test func pendingInterruptIsSignalledAgainAfterRestore() throws {
        let running = Running(requests: 1)
        #expect(running.driver.interruptStatus == .usedBuffer)  // not acknowledged
        let saved = running.driver.transport.save(running.rng)
        #expect(saved.transport.interruptStatus == InterruptStatus.usedBuffer.rawValue)
        let (fresh, transport) = running.freshDevice()
        let before = running.driver.interrupts.triggers
        try transport.restore(saved, into: fresh)
        #expect(running.driver.interrupts.triggers == before + 1)
        #expect(running.driver.interruptStatus == .usedBuffer)
    }
}
