import Foundation
import Glibc
import SandboxHost
import Testing

/// Reading /etc/passwd and /etc/group out of an ext4 image without mounting it.
@Suite struct ImageFileReaderTests {
    /// An ext4 image made by mke2fs -d from a tree: etc/passwd, etc/group as a symlink to a
    /// file elsewhere in the image, and a 2 MiB file.
    static func makeImage() throws -> (image: String, scratch: String) {
        let scratch = NSTemporaryDirectory() + "kiln-image-reader-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let tree = scratch + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tree + "/data", withIntermediateDirectories: true)
        try "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n".write(toFile: tree + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\nstaff:x:1001:\n".write(toFile: tree + "/data/group.real", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: tree + "/etc/group", withDestinationPath: "/data/group.real")
        try Data(repeating: 0x41, count: 2 << 20).write(to: URL(fileURLWithPath: tree + "/data/big"))
        let image = scratch + "/image.ext4"
        let mkfs = Process()
        mkfs.executableURL = URL(fileURLWithPath: "/usr/sbin/mke2fs")
        mkfs.arguments = ["-q", "-F", "-t", "ext4", "-d", tree, image, "16M"]
        try mkfs.run()
        mkfs.waitUntilExit()
        try #require(mkfs.terminationStatus == 0)
        return (image, scratch)
    }

    @Test func readsFilesButNotThroughSymlinks() throws {
        let (image, scratch) = try Self.makeImage()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let passwd = try ImageFileReader.read(image: image, path: "/etc/passwd")
        #expect(passwd.map { String(decoding: $0, as: UTF8.self) }?.contains("app:x:1000:1001") == true)
        // A symlink is not followed (it reads as no file): nothing outside the named inode is read.
        #expect(try ImageFileReader.read(image: image, path: "/etc/group") == nil)
        let real = try ImageFileReader.read(image: image, path: "/data/group.real")
        #expect(real.map { String(decoding: $0, as: UTF8.self) } == "root:x:0:\nstaff:x:1001:\n")
        #expect(try ImageFileReader.read(image: image, path: "/etc/shadow") == nil)
    }

    @Test func aFileOverTheLimitIsRefused() throws {
        let (image, scratch) = try Self.makeImage()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        #expect(throws: SandboxHostError.self) { try ImageFileReader.read(image: image, path: "/data/big", limit: 1 << 20) }
        #expect(try ImageFileReader.read(image: image, path: "/data/big", limit: 4 << 20)?.count == 2 << 20)
    }

    @Test func pathsDebugfsWouldParseAreRefused() {
        for path in ["etc/passwd", "/etc/pass wd", "/etc/\"x", "/etc/x\\y"] {
            #expect(throws: SandboxHostError.self, "\(path)") { try ImageFileReader.read(image: "/nonexistent", path: path) }
        }
    }
}
