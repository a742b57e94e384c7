import Devices
import GuestMemory
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Bounded tables, checked lengths and offsets, and malformed requests and chains: every one
/// gets an error reply (or used length 0), never a trap or a write past the guest's buffers.
@Suite struct FsLimitsTests {
    @Test func nodeTableIsBounded() throws {
        let tree = SharedTree()
        for index in 0..<6 { tree.file("shared/f\(index)", "\(index)") }
        tree.directory("shared/d")
        for index in 0..<4 { tree.file("shared/d/g\(index)", "\(index)") }
        let guest = try FsGuest(tree: tree, limits: FileServerLimits(maxNodes: 4))
        guest.initialize()
        let nodes = (0..<3).map { guest.node("f\($0)") }
        #expect(guest.lookup("f3").error == -ENFILE)
        #expect(guest.node("f0") == nodes[0])  // a known inode needs no new slot
        #expect(guest.device.usage.nodes == 4)
        // READDIRPLUS past the bound still lists every name, with node id 0.
        _ = guest.forget(nodes[2])
        let d = guest.node("d")
        let listing = try #require(guest.list(d, plus: true))
        #expect(listing.count == 6 && listing.allSatisfy { $0.nodeID == 0 })
        _ = guest.forget(nodes[1])
        #expect(guest.lookup("f4").error == 0)
        #expect(guest.device.usage.nodes == 4)
    }

    @Test func handleTableIsBounded() throws {
        let tree = SharedTree()
        tree.file("shared/a", "a")
        let guest = try FsGuest(tree: tree, limits: FileServerLimits(maxHandles: 2))
        guest.initialize()
        let a = guest.node("a")
        let first = guest.open(a).payloadU64(0)
        #expect(guest.open(FuseMessage.rootNode, directory: true).error == 0)
        #expect(guest.open(a).error == -EMFILE)
        #expect(guest.open(FuseMessage.rootNode, directory: true).error == -EMFILE)
        #expect(guest.release(first, node: a).error == 0)
        let reused = guest.open(a).payloadU64(0)
        #expect(reused != first)  // same slot, new generation: the stale handle misses
        #expect(guest.read(first, node: a).error == -EBADF)
        #expect(guest.read(reused, node: a).text == "a")
        // A file handle is not a directory handle, nor the reverse.
        #expect(guest.read(reused, node: a, opcode: .readdir).error == -EBADF)
        #expect(guest.release(reused, node: a, directory: true).error == -EBADF)
    }

    @Test func forgetOfUnknownOrRootIdsIsHarmless() throws {
        let tree = SharedTree()
        tree.file("shared/a", "a")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let a = guest.node("a")
        for id: UInt64 in [0, 1, 2_000, .max] { #expect(guest.forget(id, lookups: .max).used == 0) }
        #expect(guest.getattr(FuseMessage.rootNode).error == 0)
        #expect(guest.getattr(a).error == 0)
        // A batch whose count claims far more entries than it carries.
        let batch = FuseMessage.request(.batchForget, arguments: FuseMessage.batchForgetArguments(
            count: .max, entries: [(node: 77, lookups: 1), (node: a, lookups: 1), (node: 1, lookups: 5)]))
        #expect(guest.send(batch, replySize: 0, queue: 0).used == 0)
        #expect(guest.getattr(a).error == -ESTALE)
        #expect(guest.getattr(FuseMessage.rootNode).error == 0)
        // A truncated FORGET is dropped whole.
        let short = FuseMessage.request(.forget, node: 1, arguments: [1, 0, 0])
        #expect(guest.send(short, replySize: 16).used == 0)
        #expect(guest.device.usage.nodes == 1)
    }

    @Test func hugeAndOverflowingReads() throws {
        let tree = SharedTree()
        tree.file("shared/a", "0123456789")
        tree.directory("shared/d")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let a = guest.node("a")
        let handle = guest.open(a).payloadU64(0)
        let maxRead = UInt32(FileServerLimits.defaultMaxReadSize)
        #expect(guest.read(handle, node: a, size: maxRead).payload == Array("0123456789".utf8))
        #expect(guest.read(handle, node: a, size: maxRead + 1).error == -EINVAL)
        #expect(guest.read(handle, node: a, size: .max, replySize: 4096).error == -EINVAL)
        for offset: UInt64 in [.max, 1 << 63, UInt64(Int64.max) - 10] {
            #expect(guest.read(handle, node: a, offset: offset, size: 100).error == -EINVAL, "offset \(offset)")
        }
        #expect(guest.read(handle, node: a, offset: UInt64(Int64.max) - 100, size: 100).payload.isEmpty)
        // Asking for more than the writable buffers hold is an error, not an overflow.
        let small = guest.read(handle, node: a, size: 4096, replySize: 20)
        #expect(small.error == -EINVAL && small.used == 16)
        for bogus: UInt64 in [handle | 1 << 32, .max, handle + 1, 1 << 20] {
            #expect(guest.read(bogus, node: a).error == -EBADF)
        }
        let d = guest.node("d")
        let directory = guest.open(d, directory: true).payloadU64(0)
        #expect(guest.read(directory, node: d, offset: .max, opcode: .readdir).error == -EINVAL)
        #expect(guest.read(directory, node: d, size: 0, opcode: .readdirplus).payload.isEmpty)
        #expect(guest.read(directory, node: d, size: .max, opcode: .readdir, replySize: 100).error == 0)
    }

    @Test func truncatedAndLyingRequests() throws {
        let tree = SharedTree()
        tree.file("shared/a", "a")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let lookup = FuseMessage.request(.lookup, unique: 5, arguments: FuseMessage.name("a"))
        for count in [0, 1, 8, 16, 39] {
            let answer = guest.send(Array(lookup.prefix(count)))
            #expect(answer.error == -EINVAL && answer.used == 16, "\(count) bytes")
        }
        // len below the header, above what the chain holds, or cutting the name short.
        for length: UInt32 in [0, 39, UInt32(lookup.count + 1), .max, 41] {
            let answer = guest.send(FuseMessage.request(.lookup, arguments: FuseMessage.name("a"), length: length))
            #expect(answer.error == -EINVAL, "len \(length)")
        }
        // Extensions claiming more than len.
        var extended = lookup
        extended[36] = 0xFF
        extended[37] = 0xFF
        #expect(guest.send(extended).error == -EINVAL)
        // Fixed-size arguments cut short.
        for opcode in [FuseMessage.Opcode.read, .open, .opendir, .release, .getxattr, .readdir] {
            #expect(guest.send(FuseMessage.request(opcode, arguments: [1, 2, 3])).error == -EINVAL, "\(opcode)")
        }
        // A WRITE far longer than the device keeps is refused from its header.
        let write = FuseMessage.request(.write, arguments: [UInt8](repeating: 0x41, count: 40_000))
        #expect(guest.send(write, requestSplit: 4096).error == -EROFS)
        #expect(guest.lookup("a").error == 0)
    }

    @Test func repliesThatDoNotFitTheBuffers() throws {
        let tree = SharedTree()
        tree.file("shared/a", "a")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        // No room for a header: nothing written, used length 0.
        for size in [0, 8, 15] {
            let answer = guest.send(FuseMessage.request(.getattr, arguments: [UInt8](repeating: 0, count: 16)),
                                    replySize: size)
            #expect(answer.used == 0)
        }
        // Room for a header but not the entry: an error, and no lookup counted.
        let answer = guest.lookup("a", replySize: 100)
        #expect(answer.error == -ERANGE && answer.used == 16)
        #expect(guest.device.usage.nodes == 1)
        // INIT, STATFS and OPEN likewise.
        #expect(guest.send(FuseMessage.request(.statfs), replySize: 40).error == -ERANGE)
        #expect(guest.open(FuseMessage.rootNode, directory: true).error == 0)
        let a = guest.node("a")
        let open = guest.send(FuseMessage.request(.open, node: a, arguments: FuseMessage.openArguments(flags: 0)),
                              replySize: 20)
        #expect(open.error == -ERANGE)
        #expect(guest.device.usage.handles == 1)
    }

    @Test func malformedChains() throws {
        let tree = SharedTree()
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let request = guest.driver.readable(FuseMessage.request(.statfs))
        // A readable buffer after a writable one.
        let reply = guest.driver.writable(128)
        let mixed = guest.submit([request, reply, guest.driver.readable([0])], writable: [reply])
        #expect(mixed.used == 0)
        #expect(guest.driver.bytes(of: reply).allSatisfy { $0 == 0xAA })
        // Buffers outside guest RAM, or wrapping.
        let outside = MockBuffer(address: guest.driver.memoryEnd, length: 64, deviceWritable: true)
        #expect(guest.submit([request, outside], writable: []).used == 0)
        let wrapping = MockBuffer(address: GuestAddress(UInt64.max - 8), length: 64, deviceWritable: false)
        #expect(guest.submit([wrapping, reply], writable: [reply]).used == 0)
        // Only writable buffers: the request is empty.
        let empty = guest.submit([reply], writable: [reply])
        #expect(empty.error == -EINVAL && empty.used == 16)
        #expect(!guest.driver.status.contains(.needsReset))
        #expect(guest.device.counters.malformedChains == 3)
        #expect(guest.send(FuseMessage.request(.statfs)).error == 0)
    }
}
