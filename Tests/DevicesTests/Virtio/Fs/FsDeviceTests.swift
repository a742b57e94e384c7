import Devices
import GuestMemory
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The virtio side of virtio-fs and the FUSE handshake.
@Suite struct FsDeviceTests {
    @Test func identityAndConfigSpace() throws {
        let tree = SharedTree()
        let device = try Fs(tag: "rootfs", sharedDirectory: tree.root, requestQueues: 2)
        let driver = MockVirtioDriver(device: device)
        #expect(driver.read(MMIORegister.deviceID) == 26)
        #expect(driver.deviceFeatures == VirtioFeature.transportFeatures)
        #expect(device.queueMaxSizes.count == 3)  // hiprio + 2 request queues
        #expect(driver.readConfig(0, count: 6) == Array("rootfs".utf8))
        #expect(driver.readConfig(6, count: 30) == [UInt8](repeating: 0, count: 30))
        #expect(driver.readConfig(36, count: 4) == [2, 0, 0, 0])
    }

    @Test func badConfigurationIsRefused() {
        let tree = SharedTree()
        #expect(throws: FileServerError.invalidTag("")) { try Fs(tag: "", sharedDirectory: tree.root) }
        let long = String(repeating: "t", count: 37)
        #expect(throws: FileServerError.invalidTag(long)) { try Fs(tag: long, sharedDirectory: tree.root) }
        #expect(throws: FileServerError.sharedDirectory(path: tree.base + "/none", errno: ENOENT)) {
            try Fs(tag: "t", sharedDirectory: tree.base + "/none")
        }
        #expect(throws: (any Error).self) { try Fs(tag: "t", sharedDirectory: tree.outside + "/secret") }
        #expect(throws: (any Error).self) {
            try Fs(tag: "t", sharedDirectory: tree.root, limits: FileServerLimits(maxReadSize: 1000))
        }
        #expect(throws: (any Error).self) { try Fs(tag: "t", sharedDirectory: tree.root, requestQueues: 0) }
    }

    @Test func initHandshake() throws {
        let tree = SharedTree()
        let guest = try FsGuest(tree: tree, limits: FileServerLimits(maxReadSize: 64 * 1024))
        let answer = guest.send(FuseMessage.request(.initialize, unique: 7,
                                                    arguments: FuseMessage.initArguments(minor: 38, maxReadahead: 1 << 20)))
        #expect(answer.error == 0)
        #expect(answer.unique == 7)
        #expect(answer.length == 16 + 64 && answer.used == 80)
        #expect(answer.payloadU32(0) == 7)             // major
        #expect(answer.payloadU32(4) == 38)            // minor
        #expect(answer.payloadU32(8) == 64 * 1024)     // max_readahead, bounded by ours
        let flags = answer.payloadU32(12)
        #expect(flags & (1 << 13) != 0)                // DO_READDIRPLUS
        #expect(flags & (1 << 22) != 0)                // MAX_PAGES
        #expect(flags & (1 << 16) == 0)                // no WRITEBACK_CACHE
        #expect(flags & (1 << 30) == 0)                // no INIT_EXT
        #expect(answer.payloadU32(20) == 64 * 1024)    // max_write
        #expect(answer.payloadU32(28) & 0xFFFF == 16)  // max_pages
        // Only what the kernel offered is accepted.
        let second = try FsGuest(tree: tree)
        #expect(second.initialize(flags: 1 << 13).payloadU32(12) == 1 << 13)
    }

    @Test func initRefusesOtherProtocols() throws {
        let tree = SharedTree()
        let guest = try FsGuest(tree: tree)
        for arguments in [FuseMessage.initArguments(major: 6), FuseMessage.initArguments(major: 8),
                          FuseMessage.initArguments(minor: 30), Array(FuseMessage.initArguments().prefix(12))] {
            let answer = guest.send(FuseMessage.request(.initialize, arguments: arguments))
            #expect(answer.error == -EPROTO || answer.error == -EINVAL)
            #expect(answer.used == 16)
        }
        // Nothing is served before a handshake succeeds.
        #expect(guest.lookup("a").error == -EIO)
        #expect(guest.initialize().error == 0)
        #expect(guest.initialize().error == -EPROTO)  // once per session
    }

    /// How a driver can end a FUSE session: DESTROY, or a device reset (found by hostile.elf,
    /// HostileGuestTests: a reset left the session up, so the driver that started again got
    /// EPROTO for its INIT and the old session's handles stayed open).
    enum SessionEnd: CaseIterable, Sendable { case destroy, reset }

    @Test(arguments: SessionEnd.allCases)
    func endingASessionReleasesItsNodesAndHandles(_ end: SessionEnd) throws {
        let tree = SharedTree()
        tree.file("shared/a", "x")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let node = guest.node("a")
        let handle = guest.open(node).payloadU64(0)
        #expect(guest.device.usage == (nodes: 2, handles: 1))
        switch end {
        case .destroy:
            #expect(guest.send(FuseMessage.request(.destroy)).error == 0)
            #expect(guest.device.usage == (nodes: 1, handles: 0))
            #expect(guest.getattr(node).error == -EIO)
        case .reset:
            guest.restartDevice()
            #expect(guest.device.usage == (nodes: 1, handles: 0))
        }
        #expect(guest.initialize().error == 0)
        #expect(guest.getattr(node).error == -ESTALE)  // the old ids are gone for good
        #expect(guest.read(handle, node: node).error == -EBADF)
    }

    @Test func everyQueueServesRequests() throws {
        let tree = SharedTree()
        tree.file("shared/a", "x")
        let guest = try FsGuest(tree: tree, requestQueues: 3)
        guest.initialize()
        for queue in 0...3 {
            let answer = guest.send(FuseMessage.request(.lookup, arguments: FuseMessage.name("a")), queue: queue)
            #expect(answer.error == 0)
        }
        // FORGET on the high-priority queue: no reply, and the lookups (four) drop.
        let node = guest.node("a")
        #expect(guest.forget(node, lookups: 4).used == 0)
        #expect(guest.getattr(node).error == 0)
        #expect(guest.forget(node, lookups: 1).used == 0)
        #expect(guest.getattr(node).error == -ESTALE)
        // A FORGET chain with nothing writable is the normal case, not a malformed chain.
        #expect(guest.device.counters.malformedChains == 0)
        #expect(!guest.driver.status.contains(.needsReset))
    }
}
