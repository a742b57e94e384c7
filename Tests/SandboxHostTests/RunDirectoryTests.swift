import Glibc
@testable import SandboxHost
import Testing

/// Run directories: where they go ($TMPDIR), and removal that stays inside them whatever links
/// they hold (the jailed VMM's user can put links in the jail).
@Suite struct RunDirectoryTests {
    @Test func parentIsTMPDIROrTmp() {
        #expect(RunDirectory.parent(tmpdir: "/var/tmp/me/") == "/var/tmp/me")
        #expect(RunDirectory.parent(tmpdir: "/scratch") == "/scratch")
        #expect(RunDirectory.parent(tmpdir: nil) == "/tmp")
        #expect(RunDirectory.parent(tmpdir: "") == "/tmp")
    }

    @Test func createsAPrivateDirectoryInTheParent() throws {
        let scratch = TestDirectory()
        let directory = try RunDirectory.create(in: scratch.path)
        #expect(directory.parent == scratch.path)
        #expect(directory.name.hasPrefix("kiln-run.\(getpid())."))
        var info = stat()
        #expect(lstat(directory.path, &info) == 0 && info.st_mode & 0o7777 == 0o700)
        try directory.remove()
        #expect(!TestDirectory.exists(directory.path))
        try directory.remove()   // already gone: nothing to do
    }

    @Test func tooLongParentFailsBeforeMakingAnything() {
        let parent = "/tmp/" + String(repeating: "p", count: 80)
        #expect {
            try RunDirectory.create(in: parent)
        } throws: { error in
            guard case .socketPathTooLong(let path, 107)? = error as? SandboxHostError else { return false }
            return path.hasPrefix(parent) && path.hasSuffix("/vsock.sock")
        }
        // /tmp leaves room.
        let fits = try? RunDirectory.create(in: "/tmp")
        #expect(fits != nil)
        try? fits?.remove()
    }

    @Test func removalDoesNotFollowLinks() throws {
        let scratch = TestDirectory()
        let outside = scratch.make("outside")
        TestDirectory.write("\(outside)/keep", "precious")
        let directory = try RunDirectory.create(in: scratch.path)
        #expect(mkdir(directory.file("jail"), 0o755) == 0 && mkdir(directory.file("jail/root"), 0o755) == 0)
        #expect(symlink(outside, directory.file("link-to-dir")) == 0)
        #expect(symlink("\(outside)/keep", directory.file("link-to-file")) == 0)
        #expect(symlink(outside, directory.file("jail/root/escape")) == 0)
        #expect(symlink("/", directory.file("jail/root/slash")) == 0)
        TestDirectory.write(directory.file("jail/root/console.log"), "x", owner: otherUid)
        try directory.remove()
        #expect(!TestDirectory.exists(directory.path))
        #expect(TestDirectory.exists("\(outside)/keep"))
        #expect(TestDirectory.exists(outside))
    }

    @Test func foreignDirectoryIsNeitherEmptiedNorRemoved() throws {
        let scratch = TestDirectory()
        let name = "kiln-run.\(TestDirectory.deadPid()).planted"
        let dir = scratch.make(name, owner: otherUid)
        TestDirectory.write("\(dir)/file", "theirs")
        let directory = RunDirectory(parent: scratch.path, name: name, private: true)
        #expect(throws: SandboxHostError.notOwned(path: dir, reason: "owned by uid 65534, not kiln's uid \(geteuid())")) {
            try directory.remove()
        }
        #expect(TestDirectory.exists("\(dir)/file"))
    }

    @Test func symlinkInPlaceOfTheDirectoryIsNotFollowed() throws {
        let scratch = TestDirectory()
        let target = scratch.make("target")   // ours and 0700: only the link makes it wrong
        TestDirectory.write("\(target)/keep", "precious")
        let name = "kiln-run.\(TestDirectory.deadPid()).link"
        #expect(symlink(target, "\(scratch.path)/\(name)") == 0)
        #expect(throws: SandboxHostError.self) { try RunDirectory(parent: scratch.path, name: name, private: true).remove() }
        #expect(TestDirectory.exists("\(target)/keep"))
        #expect(TestDirectory.exists("\(scratch.path)/\(name)"))
    }
}
