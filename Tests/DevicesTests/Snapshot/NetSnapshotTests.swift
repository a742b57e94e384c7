import Devices
import GuestMemory
import TestSupport
import Testing

@Suite struct NetSnapshotTests {
    /// RX chains the device took and had no frame for are held across the snapshot, and the
    /// first frame after the restore fills them; TX goes on too.
    @Test func heldReceiveChainsAreFilledAfterRestore() throws {
        let rig = NetRig()
        let (rx, tx) = rig.start()
        // Mergeable: the device takes chains until one 64 KiB frame fits (17 of 4 KiB), then
        // finds no frame in the backend and keeps them.
        let buffers = rig.driver.postReceiveBuffers(rx, count: 17, size: 4096)
        rx.notify()
        #expect(rx.takeUsed().isEmpty)
        let saved = rig.driver.transport.save(rig.net)
        #expect(saved.device.heldReceiveHeads == Array(0...16))
        #expect(saved.device.mac == NetRig.mac)
        let decoded = try reencoded(saved)

        let backend = SocketPairNetBackend()
        let fresh = Net(backend: backend, mac: NetRig.mac)
        let transport = rig.driver.replaceDevice(with: fresh)
        let events = MockDeviceEvents(transport: transport)
        try fresh.connect(events: events)
        try transport.restore(decoded, into: fresh)
        #expect(backend.offloads.count == 1)  // activated again: the new TAP gets its offloads

        let frame = netFrame(payload: pattern(5000))
        #expect(backend.inject(frame))
        #expect(events.fireReadable(backend.fileDescriptor))
        #expect(rx.takeUsed() == [UsedElement(id: 0, length: 4096), UsedElement(id: 1, length: UInt32(frame.count - 4096))])
        var expected = frame
        expected[10] = 2  // num_buffers
        let received = rig.driver.bytes(of: buffers[0]) + rig.driver.bytes(of: buffers[1]).prefix(frame.count - 4096)
        let intact = received == expected
        #expect(intact)
        let sent = netFrame(payload: pattern(100, seed: 9))
        tx.submit([rig.driver.readable(sent)])
        tx.notify()
        #expect(tx.takeUsed().map(\.length) == [0])
        #expect(backend.nextFrame() == sent)
        #expect(transport.save(fresh).device.heldReceiveHeads == Array(2...16))
    }

    @Test func anotherMACOrBadHeldChainsAreRefused() throws {
        let rig = NetRig()
        let (rx, _) = rig.start()
        _ = rig.driver.postReceiveBuffers(rx, count: 2, size: 4096)
        rx.notify()
        let saved = rig.driver.transport.save(rig.net)
        expectHostileEncodingsRefused(saved, VirtioState<NetState>.self)

        let other = Net(backend: SocketPairNetBackend(), mac: MACAddress(0x06, 1, 2, 3, 4, 5))
        #expect(throws: SnapshotStateError.self) { try rig.driver.replaceDevice(with: other).restore(saved, into: other) }

        let fresh = Net(backend: SocketPairNetBackend(), mac: NetRig.mac)
        let transport = rig.driver.replaceDevice(with: fresh)
        var outside = saved
        outside.device.heldReceiveHeads = [0, 300]
        #expect(throws: SnapshotStateError.invalidValue(field: "net held RX head", value: 300)) {
            try transport.restore(outside, into: fresh)
        }
        var twice = saved
        twice.device.heldReceiveHeads = [1, 1]
        #expect(throws: SnapshotStateError.inconsistent("net holds an RX chain twice")) {
            try transport.restore(twice, into: fresh)
        }
        var untaken = saved
        untaken.device.heldReceiveHeads = [0, 1, 2]
        #expect(throws: SnapshotStateError.self) { try transport.restore(untaken, into: fresh) }
        // A readable (TX-like) chain is not an RX chain.
        let readable = rx.writeChain([rig.driver.readable([1, 2, 3])])
        var wrongDirection = saved
        wrongDirection.device.heldReceiveHeads = [0, readable]
        #expect(throws: SnapshotStateError.self) { try transport.restore(wrongDirection, into: fresh) }
        // Nothing was held by the refusals: the good state restores and holds exactly its two.
        try transport.restore(saved, into: fresh)
        #expect(transport.save(fresh).device.heldReceiveHeads == [0, 1])
    }

    /// A device whose activation failed (the TAP refused its offloads) is saved as needing a
    /// reset, and restored so: the driver sees NEEDS_RESET and starts over.
    @Test func deviceThatNeedsResetRestoresSo() throws {
        let rig = NetRig()
        rig.backend.failOffloadsErrno.store(22, ordering: .relaxed)
        _ = rig.start()
        #expect(rig.driver.status.contains(.needsReset))
        let saved = rig.driver.transport.save(rig.net)
        #expect(saved.transport.needsReset && !saved.transport.activated)
        let fresh = Net(backend: SocketPairNetBackend(), mac: NetRig.mac)
        let transport = rig.driver.replaceDevice(with: fresh)
        try transport.restore(try reencoded(saved), into: fresh)
        #expect(rig.driver.status.contains(.needsReset))
        rig.driver.reset()
        let (rx, _) = rig.start()
        _ = rig.driver.postReceiveBuffers(rx, count: 1, size: 2048)
        rx.notify()
        #expect(transport.isActivated)
    }
}
