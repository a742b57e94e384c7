import Devices
import GuestMemory
import TestSupport
import Testing

@Suite struct NetTransmitTests {
    @Test func identityAndConfig() {
        let rig = NetRig()
        #expect(rig.driver.read(MMIORegister.deviceID) == 1)
        #expect(rig.driver.deviceFeatures == NetFeature.offered | VirtioFeature.transportFeatures)
        #expect(rig.driver.transport.queueCount == 2)
        // mac, then status = VIRTIO_NET_S_LINK_UP.
        #expect(rig.driver.readConfig(0, count: 8) == [0x06, 0x00, 0xAC, 0x10, 0x00, 0x02, 1, 0])
        #expect(rig.driver.readConfig(8, count: 1) == [0])  // past the end reads as zero
        #expect(rig.events.mask(of: rig.fd) == .readable)
    }

    @Test func framesGoToTheBackendWithTheirHeader() {
        let rig = NetRig()
        let (_, tx) = rig.start()
        // A TSO frame: the offload fields must reach the TAP untouched.
        let header = Array(netFrame(payload: [], flags: 1, gsoType: 1, headerLength: 54, gsoSize: 1448,
                                    checksumStart: 34, checksumOffset: 16))
        let payload = pattern(3000)
        let head = tx.submit([rig.driver.readable(header), rig.driver.readable(Array(payload[0..<100])),
                              rig.driver.readable(Array(payload[100...]))])
        tx.notify()
        #expect(tx.takeUsed() == [UsedElement(id: UInt32(head), length: 0)])
        #expect(rig.backend.nextFrame() == header + payload)
        #expect(rig.backend.nextFrame() == nil)
        #expect(rig.net.counters.txFrames == 1)
        #expect(rig.net.counters.txBytes == 3000)
        #expect(rig.driver.interrupts.triggers == 1)
    }

    @Test func headerAndFrameInOneDescriptor() {
        let rig = NetRig()
        let (_, tx) = rig.start()
        let frame = netFrame(payload: pattern(60))
        tx.submit([rig.driver.readable(frame)])
        tx.submit([rig.driver.readable(netFrame(payload: pattern(1514, seed: 2)))])
        tx.notify()
        #expect(tx.takeUsed().count == 2)
        #expect(rig.backend.nextFrame() == frame)
        #expect(rig.backend.nextFrame()?.count == 12 + 1514)
    }

    @Test func largestFrameIsAccepted() {
        let rig = NetRig()
        let (_, tx) = rig.start()
        let frame = netFrame(payload: pattern(NetHeader.maxFrameWithHeader - 12))
        tx.submit([rig.driver.readable(frame)])
        tx.notify()
        #expect(rig.backend.nextFrame() == frame)
        #expect(rig.net.counters.txMalformed == 0)
    }

    @Test func malformedChainsAreDroppedAndCounted() {
        let rig = NetRig()
        let (_, tx) = rig.start()
        let driver = rig.driver
        // Shorter than the header.
        tx.submit([driver.readable(Array(repeating: 0, count: 11))])
        // One byte too many, split so no single descriptor is the problem.
        tx.submit([driver.readable(pattern(40000)), driver.readable(pattern(NetHeader.maxFrameWithHeader - 40000 + 1))])
        // A device-writable descriptor in a TX chain.
        tx.submit([driver.readable(netFrame(payload: [])), driver.writable(64)])
        // A buffer outside guest RAM.
        tx.submit([driver.readable(netFrame(payload: [])),
                   MockBuffer(address: driver.memoryEnd, length: 64, deviceWritable: false)])
        // A length that wraps the address space.
        tx.submit([MockBuffer(address: GuestAddress(0x2000), length: .max, deviceWritable: false)])
        // And a good frame after all of them.
        let good = netFrame(payload: pattern(100))
        tx.submit([driver.readable(good)])
        tx.notify()
        let used = tx.takeUsed()
        #expect(used.count == 6)
        #expect(used.allSatisfy { $0.length == 0 })
        #expect(rig.backend.nextFrame() == good)
        #expect(rig.backend.nextFrame() == nil)
        let counters = rig.net.counters
        #expect(counters.txMalformed == 5)
        #expect(counters.txFrames == 1)
        #expect(!driver.status.contains(.needsReset))
    }

    @Test func backendRefusalIsCountedNotFatal() {
        let rig = NetRig()
        let (_, tx) = rig.start()
        rig.backend.failSendsErrno.store(22, ordering: .relaxed)  // EINVAL, as a TAP answers a bad header
        tx.submit([rig.driver.readable(netFrame(payload: pattern(100)))])
        tx.notify()
        #expect(tx.takeUsed().count == 1)
        #expect(rig.net.counters.txErrors == 1)
        #expect(rig.net.counters.txFrames == 0)
    }

    @Test func offloadsFollowTheGuestFeatures() {
        let all = NetRig()
        _ = all.start()
        #expect(all.backend.offloads == [[.checksum, .tso4, .tso6]])

        let checksumOnly = NetRig()
        _ = checksumOnly.start(features: VirtioFeature.version1 | NetFeature.guestChecksum | NetFeature.mac)
        #expect(checksumOnly.backend.offloads == [[.checksum]])

        // TSO without checksum offload is not something a TAP accepts: nothing is offloaded.
        let none = NetRig()
        _ = none.start(features: VirtioFeature.version1 | NetFeature.guestTSO4)
        #expect(none.backend.offloads == [[]])
    }

    @Test func refusedOffloadsFailActivation() {
        let rig = NetRig()
        rig.backend.failOffloadsErrno.store(22, ordering: .relaxed)
        _ = rig.start()
        #expect(rig.driver.status.contains(.needsReset))
        #expect(rig.driver.interruptStatus.contains(.configChange))
    }
}
