import Devices
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The published escapes from file servers, replayed: each must stay inside the shared root.
@Suite struct FsEscapeTests {
    /// QEMU virtiofsd CVE-2020-35517: the guest had the server open a device node (or FIFO)
    /// that sat in the shared tree. Here special files can be looked up and stat'ed, never
    /// opened: a FIFO with no writer would block an open, a device node would reach the host.
    @Test func specialFilesAreNeverOpened() throws {
        let tree = SharedTree()
        tree.fifo("shared/fifo")
        // /dev/vda's numbers on this kind of host (253:0); any char device would do.
        let hasDevice = getuid() == 0 && tree.characterDevice("shared/disk", major: 253, minor: 0)
            && tree.characterDevice("shared/vda", major: 253, minor: 0, block: true)
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let fifo = guest.lookup("fifo")
        #expect(fifo.error == 0 && fifo.attribute(.mode) & UInt64(S_IFMT) == UInt64(S_IFIFO))
        for flags in [O_RDONLY, O_RDONLY | O_NONBLOCK, O_WRONLY] {
            let answer = guest.open(fifo.nodeID, flags: UInt32(flags))
            #expect(answer.error == -EACCES || answer.error == -EROFS)
        }
        #expect(guest.open(fifo.nodeID, directory: true).error == -ENOTDIR)
        #expect(guest.getattr(fifo.nodeID).error == 0)
        #expect(guest.device.usage.handles == 0)
        if hasDevice {
            let disk = guest.lookup("disk")
            #expect(disk.attribute(.mode) & UInt64(S_IFMT) == UInt64(S_IFCHR))
            #expect(disk.attribute(.rdev) == UInt64(253 << 8))  // new_encode_dev(253:0)
            #expect(guest.open(disk.nodeID).error == -EACCES)
            let vda = guest.lookup("vda")
            #expect(vda.attribute(.mode) & UInt64(S_IFMT) == UInt64(S_IFBLK))
            #expect(guest.open(vda.nodeID).error == -EACCES)
            #expect(guest.open(vda.nodeID, directory: true).error == -ENOTDIR)
            #expect(guest.send(FuseMessage.request(.getxattr, node: disk.nodeID,
                                                   arguments: FuseMessage.xattrArguments(size: 64, name: "user.x"))).error == -ENODATA)
        }
    }

    /// libkrun#329 and Kata's virtiofsd advisory: a symlink planted in the shared tree pointing
    /// outside it. The server returns the link itself; LOOKUP through it, OPEN or OPENDIR of it
    /// never reach its target; READLINK gives the text.
    @Test func symlinksOutOfTheRootAreNeverFollowed() throws {
        let tree = SharedTree()
        tree.symlink("shared/etc", to: "/etc")
        tree.symlink("shared/up", to: "../../")
        tree.symlink("shared/secret", to: tree.outside + "/secret")
        tree.symlink("shared/relative", to: "../outside/secret")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        for name in ["etc", "up", "secret", "relative"] {
            let link = guest.lookup(name)
            #expect(link.error == 0)
            #expect(link.attribute(.mode) & UInt64(S_IFMT) == UInt64(S_IFLNK), "\(name)")
            #expect(guest.open(link.nodeID).error == -ELOOP)
            #expect(guest.open(link.nodeID, directory: true).error == -ENOTDIR)
            for inner in ["passwd", "secret", "outside", "."] {
                let through = guest.lookup(inner, in: link.nodeID)
                #expect(through.error == -ENOTDIR || through.error == -ENOENT, "\(name)/\(inner)")
            }
        }
        #expect(guest.send(FuseMessage.request(.readlink, node: guest.node("up"))).text == "../../")
        #expect(guest.device.usage.handles == 0)
    }

    /// Names are single components: no traversal, no separators, no hidden NULs.
    @Test func traversalNamesAreRefused() throws {
        let tree = SharedTree()
        tree.directory("shared/d")
        tree.file("shared/d/f", "inside")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let d = guest.node("d")
        let cases: [(String, Int32)] = [
            ("..", ENOENT), (".", ENOENT), ("../outside", EINVAL), ("d/f", EINVAL), ("/etc", EINVAL),
            ("", EINVAL), ("/", EINVAL), ("../../../../etc/passwd", EINVAL),
            (String(repeating: "a", count: 256), ENAMETOOLONG),
        ]
        for (name, error) in cases {
            #expect(guest.lookup(name).error == -error, "\(name)")
            #expect(guest.lookup(name, in: d).error == -error, "d/\(name)")
        }
        // A NUL inside the name, and a name without its terminator.
        let hidden = FuseMessage.request(.lookup, node: d, arguments: Array("f\0../../outside".utf8) + [0])
        #expect(guest.send(hidden).error == -EINVAL)
        let unterminated = FuseMessage.request(.lookup, node: d, arguments: Array("f".utf8))
        #expect(guest.send(unterminated).error == -EINVAL)
        // A parent that is not a directory, or not a node at all.
        let f = guest.node("f", in: d)
        #expect(guest.lookup("x", in: f).error == -ENOTDIR)
        for bogus: UInt64 in [0, 999, .max] { #expect(guest.lookup("d", in: bogus).error == -ESTALE) }
        #expect(guest.device.usage.nodes == 3)
    }

    /// TOCTOU: after LOOKUP the host swaps a symlink to outside the root in for the directory
    /// (and for a file). Everything the guest does with the nodes it holds stays on the
    /// original inodes, beneath the root; a fresh LOOKUP sees only the link.
    @Test func symlinkSwappedInBetweenLookupAndOpen() throws {
        let tree = SharedTree()
        tree.directory("shared/d")
        tree.file("shared/d/secret", "inside\n")
        tree.file("shared/f", "file\n")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let d = guest.node("d")
        let inner = guest.node("secret", in: d)
        let f = guest.node("f")
        tree.rename("shared/d", "shared/d.old")
        tree.symlink("shared/d", to: tree.outside)
        tree.rename("shared/f", "shared/f.old")
        tree.symlink("shared/f", to: tree.outside + "/secret")

        // The directory node is the original directory, wherever it went.
        let listing = try #require(guest.list(d))
        #expect(Set(listing.map(\.name)) == [".", "..", "secret"])
        #expect(guest.contents(of: inner) == Array("inside\n".utf8))
        let again = guest.lookup("secret", in: d)
        #expect(again.error == 0 && again.nodeID == inner)
        // The file node's name now holds a link: reopening by name refuses it.
        let opened = guest.open(f)
        #expect(opened.error == -ELOOP || opened.error == -ESTALE)
        // A new LOOKUP returns the link, and nothing through it resolves.
        let link = guest.lookup("d")
        #expect(link.attribute(.mode) & UInt64(S_IFMT) == UInt64(S_IFLNK))
        #expect(guest.lookup("secret", in: link.nodeID).error == -ENOTDIR)
        #expect(guest.device.usage.handles == 0)
    }

    /// A file replaced by a FIFO (or another file) between LOOKUP and OPEN: the reopen does
    /// not block, and the identity check refuses what is not the looked-up inode.
    @Test func fileReplacedBetweenLookupAndOpen() throws {
        let tree = SharedTree()
        tree.file("shared/a", "a")
        tree.file("shared/b", "b")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let a = guest.node("a"), b = guest.node("b")
        tree.unlink("shared/a")
        tree.fifo("shared/a")
        tree.unlink("shared/b")
        tree.file("shared/b", "new b")
        #expect(guest.open(a).error == -ESTALE)
        #expect(guest.open(b).error == -ESTALE)
        #expect(guest.device.usage.handles == 0)
    }

    /// Whatever is mounted beneath the root is not served (RESOLVE_NO_XDEV).
    @Test(.enabled(if: getuid() == 0, "mounting needs root"))
    func mountsInsideTheRootAreNotCrossed() throws {
        let tree = SharedTree()
        tree.directory("shared/mnt")
        try #require(mount("tmpfs", tree.root + "/mnt", "tmpfs", 0, "size=64k") == 0)
        defer { umount2(tree.root + "/mnt", Int32(MNT_DETACH)) }
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        #expect(guest.lookup("mnt").error == -EXDEV)
    }
}
