import Devices
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Nothing the guest sends changes the host tree: every opcode that would is answered without
/// being executed.
@Suite struct FsReadOnlyTests {
    static let modifying: [FuseMessage.Opcode] = [
        .setattr, .symlink, .mknod, .mkdir, .unlink, .rmdir, .rename, .link, .write, .setxattr,
        .removexattr, .create, .fallocate, .rename2, .copyFileRange, .tmpfile,
    ]

    /// Plausible arguments for `opcode` aimed at the tree's files (names, handles, modes), so
    /// that a server executing it would change something.
    static func arguments(_ opcode: FuseMessage.Opcode, handle: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        func word(_ value: UInt32) { FuseMessage.append(value, to: &bytes) }
        func quad(_ value: UInt64) { FuseMessage.append(value, to: &bytes) }
        switch opcode {
        case .setattr:
            word(0x1FF); word(0); quad(handle); quad(0)  // valid: everything; size 0 (truncate)
            bytes += [UInt8](repeating: 0, count: 88 - 24)
        case .symlink: bytes = FuseMessage.name("new-link") + FuseMessage.name("/etc/passwd")
        case .mknod: word(UInt32(S_IFCHR | 0o666)); word(0x0801); word(0); word(0); bytes += FuseMessage.name("new-dev")
        case .mkdir: word(0o755); word(0); bytes += FuseMessage.name("new-dir")
        case .unlink, .rmdir: bytes = FuseMessage.name(opcode == .unlink ? "file" : "dir")
        case .rename: quad(1); bytes += FuseMessage.name("file") + FuseMessage.name("renamed")
        case .rename2: quad(1); word(0); word(0); bytes += FuseMessage.name("file") + FuseMessage.name("renamed")
        case .link: quad(2); bytes += FuseMessage.name("hard")
        case .write:
            quad(handle); quad(0); word(5); word(0); quad(0); word(0); word(0)
            bytes += Array("EVIL!".utf8)
        case .setxattr: word(3); word(0); word(0); word(0); bytes += FuseMessage.name("user.evil") + Array("bad".utf8)
        case .removexattr: bytes = FuseMessage.name("user.keep")
        case .create: word(UInt32(O_WRONLY | O_CREAT)); word(0o644); word(0); word(0); bytes += FuseMessage.name("created")
        case .fallocate: quad(handle); quad(0); quad(1 << 20); word(0); word(0)
        case .copyFileRange: quad(handle); quad(0); quad(2); quad(handle); quad(0); quad(5); quad(0)
        case .tmpfile: word(UInt32(O_RDWR)); word(0o600); word(0); word(0); bytes += FuseMessage.name("tmp")
        default: break
        }
        return bytes
    }

    @Test func everyModifyingOpcodeIsRefusedAndNothingChanges() throws {
        let tree = SharedTree()
        tree.file("shared/file", "original")
        tree.directory("shared/dir")
        let xattrs = tree.setAttribute("shared/file", "user.keep", "1")
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        let file = guest.node("file")
        _ = guest.node("dir")
        let handle = guest.open(file).payloadU64(0)
        let before = tree.snapshot()
        for opcode in Self.modifying {
            for node in [FuseMessage.rootNode, file] {
                let answer = guest.send(FuseMessage.request(opcode, node: node,
                                                            arguments: Self.arguments(opcode, handle: handle)))
                #expect(answer.error == -EROFS, "\(opcode) on node \(node)")
                #expect(answer.used == 16)
            }
        }
        // Opening for writing, or truncating, is refused the same way.
        for flags in [O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC, O_WRONLY | O_APPEND] {
            #expect(guest.open(file, flags: UInt32(flags)).error == -EROFS)
        }
        #expect(tree.snapshot() == before)
        if xattrs { #expect(tree.setAttribute("shared/file", "user.keep", "1")) }
        #expect(guest.device.counters.refusedModifications == UInt64(2 * Self.modifying.count + 4))
        #expect(guest.read(handle, node: file).text == "original")
    }

    @Test func otherOpcodesAreNotImplemented() throws {
        let tree = SharedTree()
        let guest = try FsGuest(tree: tree)
        guest.initialize()
        for opcode in [FuseMessage.Opcode.flush, .fsync, .fsyncdir, .getlk, .setlk, .setlkw, .access, .bmap,
                       .ioctl, .poll, .notifyReply, .lseek, .setupMapping, .removeMapping, .syncfs, .interrupt] {
            let answer = guest.send(FuseMessage.request(opcode, arguments: [UInt8](repeating: 0, count: 64)))
            #expect(answer.error == -ENOSYS, "\(opcode)")
        }
        for raw: UInt32 in [0, 7, 19, 52, 4096, 0x1A00_0000, .max] {
            #expect(guest.send(FuseMessage.request(rawOpcode: raw)).error == -ENOSYS, "opcode \(raw)")
        }
    }
}
