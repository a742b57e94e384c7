import Devices
import GuestMemory
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What a read-only share must serve: names, attributes, contents, directories, links,
/// file system statistics and extended attributes.
@Suite struct FsReadTests {
    @Test func lookupGetattrAndReadAFile() throws {
        let tree = SharedTree()
        tree.directory("shared/etc")
        let contents = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        tree.file("shared/etc/data", bytes: contents, mode: 0o640)
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let etc = guest.node("etc")
        let lookup = guest.lookup("data", in: etc)
        #expect(lookup.error == 0 && lookup.used == 16 + 128)
        let node = lookup.nodeID
        #expect(node > 1 && node != etc)
        var status = stat()
        #expect(lstat(tree.root + "/etc/data", &status) == 0)
        #expect(lookup.attribute(.inode) == UInt64(status.st_ino))
        #expect(lookup.attribute(.size) == 10_000)
        #expect(lookup.attribute(.mode) == UInt64(S_IFREG | 0o640))
        #expect(lookup.payloadU64(16) == 1)  // entry_valid: the default second
        let attributes = guest.getattr(node)
        #expect(attributes.error == 0 && attributes.used == 16 + 104)
        #expect(attributes.attribute(.size, entry: false) == 10_000)
        #expect(attributes.attribute(.nlink, entry: false) == 1)
        // Read it in one piece, in pieces, across descriptors, and past its end.
        #expect(guest.contents(of: node) == contents)
        let handle = guest.open(node).payloadU64(0)
        let whole = guest.read(handle, node: node, size: 16384, replySplit: 1000)
        #expect(whole.error == 0 && whole.used == 16 + 10_000 && whole.payload == contents)
        let middle = guest.read(handle, node: node, offset: 9_990, size: 100)
        #expect(middle.payload == Array(contents[9_990...]))
        #expect(guest.read(handle, node: node, offset: 1 << 40, size: 100).payload.isEmpty)
        #expect(guest.release(handle, node: node).error == 0)
        #expect(guest.release(handle, node: node).error == -EBADF)
        #expect(guest.device.usage.handles == 0)
    }

    /// READ data goes from the host file straight into the guest's buffers (preadv), after a
    /// header that itself spans descriptors, and never past the bytes asked for.
    @Test func readGoesStraightIntoScatteredBuffers() throws {
        let tree = SharedTree()
        let contents = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 13 + 1) }
        tree.file("shared/data", bytes: contents)
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let node = guest.node("data")
        let handle = guest.open(node).payloadU64(0)
        let answer = guest.read(handle, node: node, offset: 1234, size: 5000, replySize: 16 + 6000, replySplit: 37)
        #expect(answer.error == 0 && answer.length == 16 + 5000 && answer.used == 16 + 5000)
        #expect(answer.payload == Array(contents[1234..<6234]))
        #expect(guest.lastReplyBuffers[(16 + 5000)...].allSatisfy { $0 == 0xAA })
        // At the end of the file: the buffers past the data keep the driver's fill byte.
        let tail = guest.read(handle, node: node, offset: 9_990, size: 4096, replySplit: 1000)
        #expect(tail.payload == Array(contents[9_990...]))
        #expect(guest.lastReplyBuffers.count == 16 + 4096)
        #expect(guest.lastReplyBuffers[(16 + 10)...].allSatisfy { $0 == 0xAA })
        #expect(guest.release(handle, node: node).error == 0)
    }

    @Test func missingNamesAreCachedAsNegativeEntries() throws {
        let tree = SharedTree()
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let missing = guest.lookup("missing")
        #expect(missing.error == 0 && missing.used == 16 + 128)
        #expect(missing.nodeID == 0 && missing.payloadU64(16) == 1)  // entry_valid
        #expect(guest.device.usage.nodes == 1)
        // Without caching the miss is a plain ENOENT.
        let uncached = try FsGuest(tree: tree, limits: FileServerLimits(cacheTimeoutSeconds: 0))
        uncached.initialize()
        #expect(uncached.lookup("missing").error == -ENOENT)
    }

    @Test func requestSpreadOverDescriptors() throws {
        let tree = SharedTree()
        tree.file("shared/a-rather-long-file-name", "x")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        // Header and name cut into 3-byte pieces; reply into 7-byte pieces.
        let request = FuseMessage.request(.lookup, unique: 99, arguments: FuseMessage.name("a-rather-long-file-name"))
        let answer = guest.send(request, replySize: 144, requestSplit: 3, replySplit: 7)
        #expect(answer.error == 0 && answer.unique == 99 && answer.used == 144)
        #expect(answer.attribute(.size) == 1)
    }

    @Test func hardLinksAreOneNode() throws {
        let tree = SharedTree()
        tree.file("shared/a", "same")
        tree.link("shared/a", "shared/b")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let a = guest.node("a"), b = guest.node("b")
        #expect(a == b)
        // Two lookups: one FORGET of each keeps it; the second releases it.
        _ = guest.forget(a)
        #expect(guest.getattr(a).error == 0)
        _ = guest.forget(a)
        #expect(guest.getattr(a).error == -ESTALE)
        #expect(guest.device.usage.nodes == 1)
    }

    @Test func readdirAndReaddirplus() throws {
        let tree = SharedTree()
        tree.directory("shared/dir")
        let names = (0..<40).map { "entry-\($0)-" + String(repeating: "n", count: $0) }
        for name in names { tree.file("shared/dir/" + name, name) }
        tree.directory("shared/dir/sub")
        tree.symlink("shared/dir/link", to: "/etc/passwd")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let dir = guest.node("dir")
        // Small replies force many requests, each resuming at the last entry's offset.
        let plain = try #require(guest.list(dir, size: 300))
        #expect(Set(plain.map(\.name)) == Set(names + ["sub", "link", ".", ".."]))
        #expect(plain.count == names.count + 4)
        #expect(plain.first { $0.name == "sub" }?.type == 4)     // DT_DIR
        #expect(plain.first { $0.name == "link" }?.type == 10)   // DT_LNK
        #expect(guest.device.usage.nodes == 2)  // READDIR looks nothing up

        let plus = try #require(guest.list(dir, plus: true, size: 1000))
        #expect(plus.count == names.count + 4)
        for entry in plus {
            if entry.name == "." || entry.name == ".." {
                #expect(entry.nodeID == 0)
            } else {
                #expect(entry.nodeID > 1)
                #expect(guest.getattr(entry.nodeID).error == 0)
            }
        }
        #expect(plus.first { $0.name == "link" }?.mode == UInt32(S_IFLNK | 0o777))
        #expect(guest.device.usage.nodes == 2 + names.count + 2)
        // Each READDIRPLUS entry is one lookup the guest forgets.
        for entry in plus where entry.nodeID != 0 { _ = guest.forget(entry.nodeID) }
        #expect(guest.device.usage.nodes == 2)
        // A name found by READDIRPLUS opens like a looked-up one.
        let again = try #require(guest.list(dir, plus: true))
        let file = try #require(again.first { $0.name == names[3] })
        #expect(guest.contents(of: file.nodeID) == Array(names[3].utf8))
    }

    @Test func readlinkReturnsTextOnly() throws {
        let tree = SharedTree()
        tree.symlink("shared/abs", to: "/etc/shadow")
        tree.symlink("shared/up", to: "../../outside/secret")
        tree.file("shared/f", "x")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let abs = guest.lookup("abs")
        #expect(abs.attribute(.mode) & UInt64(S_IFMT) == UInt64(S_IFLNK))
        let link = guest.send(FuseMessage.request(.readlink, node: abs.nodeID))
        #expect(link.error == 0 && link.text == "/etc/shadow")
        let up = guest.send(FuseMessage.request(.readlink, node: guest.node("up")))
        #expect(up.text == "../../outside/secret")
        #expect(guest.send(FuseMessage.request(.readlink, node: guest.node("f"))).error == -EINVAL)
        // A reply buffer too small for the target: an error, never a cut-off path.
        let small = guest.send(FuseMessage.request(.readlink, node: abs.nodeID), replySize: 20)
        #expect(small.error == -ERANGE)
    }

    @Test func statfsDescribesTheHostFileSystem() throws {
        let tree = SharedTree()
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let answer = guest.send(FuseMessage.request(.statfs))
        #expect(answer.error == 0 && answer.used == 16 + 80)
        var host = statvfs()
        #expect(statvfs(tree.root, &host) == 0)
        #expect(answer.payloadU64(0) == UInt64(host.f_blocks))
        #expect(answer.payloadU32(40) == UInt32(host.f_bsize))
        #expect(answer.payloadU32(44) == UInt32(host.f_namemax))
    }

    @Test func extendedAttributes() throws {
        let tree = SharedTree()
        tree.file("shared/f", "x")
        tree.directory("shared/d")
        tree.symlink("shared/l", to: "f")
        try #require(tree.setAttribute("shared/f", "user.kiln", "value-1"), "user xattrs unsupported on /tmp")
        #expect(tree.setAttribute("shared/d", "user.dir", "v"))
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let file = guest.node("f")
        let size = guest.send(FuseMessage.request(.getxattr, node: file,
                                                  arguments: FuseMessage.xattrArguments(size: 0, name: "user.kiln")))
        #expect(size.error == 0 && size.payloadU32(0) == 7)
        let value = guest.send(FuseMessage.request(.getxattr, node: file,
                                                   arguments: FuseMessage.xattrArguments(size: 64, name: "user.kiln")))
        #expect(value.text == "value-1")
        let short = guest.send(FuseMessage.request(.getxattr, node: file,
                                                   arguments: FuseMessage.xattrArguments(size: 3, name: "user.kiln")))
        #expect(short.error == -ERANGE)
        let missing = guest.send(FuseMessage.request(.getxattr, node: file,
                                                     arguments: FuseMessage.xattrArguments(size: 64, name: "user.none")))
        #expect(missing.error == -ENODATA)
        let list = guest.send(FuseMessage.request(.listxattr, node: file, arguments: FuseMessage.xattrArguments(size: 256)))
        #expect(list.error == 0 && list.text.split(separator: "\0").contains("user.kiln"))
        let directory = guest.send(FuseMessage.request(.getxattr, node: guest.node("d"),
                                                       arguments: FuseMessage.xattrArguments(size: 8, name: "user.dir")))
        #expect(directory.text == "v")
        // A symlink's own xattrs are not read (that would need a path, or following it).
        let link = guest.node("l")
        #expect(guest.send(FuseMessage.request(.getxattr, node: link,
                                               arguments: FuseMessage.xattrArguments(size: 64, name: "user.kiln"))).error == -ENODATA)
        #expect(guest.send(FuseMessage.request(.listxattr, node: link,
                                               arguments: FuseMessage.xattrArguments(size: 0))).payloadU32(0) == 0)
        // A malformed name: empty, or bytes after its NUL.
        for arguments in [FuseMessage.xattrArguments(size: 8, name: ""),
                          FuseMessage.xattrArguments(size: 8, name: "user.kiln") + Array("x\0".utf8)] {
            #expect(guest.send(FuseMessage.request(.getxattr, node: file, arguments: arguments)).error == -EINVAL)
        }
        #expect(guest.device.usage.handles == 0)
    }
}
