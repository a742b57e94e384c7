import Foundation
import Glibc
import Testing

/// `--bind-in`: a root filesystem image reaches the jail without a copy (the same inode, so many
/// jails share one image and its page cache) and read-only for the VMM, whatever the file's mode.
@Suite(.serialized) struct BindInTests {
    @Test func anImageIsBoundReadOnlyNotCopied() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let image = "/tmp/kiln-bind-in-\(getpid()).ext4"
        let contents = Data((0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try #require(FileManager.default.createFile(atPath: image, contents: contents, attributes: [.posixPermissions: 0o644]))
        defer { unlink(image) }
        let jailed = try harness.start(harness.arguments(
            id: "bind-in-1",
            extra: ["--copy-in", try JailerHarness.guest("idle.elf"), "--bind-in", image],
            kiln: ["boot", "--kernel", "/idle.elf", "--memory", "64", "--no-stdin", "--drive", "/" + (image as NSString).lastPathComponent + ",ro"]),
            ready: "IDLE")
        defer { jailed.stop() }
        let inJail = "/proc/\(jailed.pid)/root/" + (image as NSString).lastPathComponent

        var host = stat(), jail = stat()
        #expect(stat(image, &host) == 0 && stat(inJail, &jail) == 0)
        #expect(host.st_ino == jail.st_ino && host.st_dev == jail.st_dev, "the image was copied, not bound")
        #expect(FileManager.default.contents(atPath: inJail) == contents)

        // Read-only in the jail's mount namespace, even for root and a 0644 file.
        let fd = open(inJail, O_WRONLY | O_CLOEXEC)
        let writeErrno = errno
        if fd >= 0 { close(fd) }
        #expect(fd < 0 && writeErrno == EROFS, "open for writing: fd \(fd), errno \(writeErrno)")

        // The host's namespace has no such mount: the jail's mount point is a plain empty file.
        let mountPoint = harness.jailRoot("bind-in-1") + "/" + (image as NSString).lastPathComponent
        var point = stat()
        #expect(stat(mountPoint, &point) == 0 && point.st_size == 0 && point.st_ino != host.st_ino)
    }

    @Test func aBindInNameTakenByACopyInIsRefused() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let guest = try JailerHarness.guest("idle.elf")
        let result = try harness.run(harness.arguments(id: "bind-in-2", extra: ["--copy-in", guest, "--bind-in", guest],
                                                       kiln: ["boot", "--kernel", "/idle.elf"]))
        #expect(result.status != 0)
        #expect(result.stderr.contains("--bind-in") && result.stderr.contains("already has a file"), "\(result.stderr)")
    }
}
