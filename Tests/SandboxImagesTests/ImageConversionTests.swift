import Foundation
import Images
import SandboxImages
import Testing

/// The store's converter: the layers into ext4, then the image's account files saved beside it
/// so `User` names resolve without reading the image again.
@Suite struct ImageConversionTests {
    /// A one-layer image whose /etc/passwd names `app` and that has no /etc/group.
    static func convert(in scratch: ScratchDirectory) throws -> String {
        let tree = scratch.path + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/etc", withIntermediateDirectories: true)
        try "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n".write(toFile: tree + "/etc/passwd",
                                                                                    atomically: true, encoding: .utf8)
        let layer = scratch.path + "/layer.tar"
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        tar.arguments = ["-C", tree, "-cf", layer, "etc"]
        try tar.run()
        tar.waitUntilExit()
        try #require(tar.terminationStatus == 0)
        let image = scratch.path + "/image"
        try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: false)
        let rootfs = image + "/rootfs.ext4"
        let digest = try #require(Digest(hex: String(repeating: "0", count: 64)))
        try ImageConversion.converter([LayerBlob(path: layer, mediaType: .ociLayer, digest: digest)], rootfs)
        return rootfs
    }

    @Test func savesTheAccountFilesBesideTheRootfs() throws {
        let scratch = ScratchDirectory()
        let rootfs = try Self.convert(in: scratch)
        #expect(ImageAccountFiles.saved("etc-passwd", rootfs: rootfs)?.contains("app:x:1000:1001:") == true)
        // No /etc/group in the image: saved empty, which reads as "the image has none".
        #expect(ImageAccountFiles.saved("etc-group", rootfs: rootfs) == "")
        #expect(try ImageAccountFiles.text(of: "/etc/group", rootfs: rootfs) == nil)
        let image = storedImage(ImageConfig(user: "app", cmd: ["id"]), rootfs: rootfs)
        #expect(try ImageJob.resolveUser("app", image: image) == ImageUser(uid: 1000, gid: 1001))
    }

    /// An image converted before the copies existed: the names are read from the image itself.
    @Test func withoutSavedCopiesTheImageIsRead() throws {
        let scratch = ScratchDirectory()
        let rootfs = try Self.convert(in: scratch)
        for file in ImageAccountFiles.files { try FileManager.default.removeItem(atPath: scratch.path + "/image/" + file.saved) }
        #expect(ImageAccountFiles.saved("etc-passwd", rootfs: rootfs) == nil)
        #expect(try ImageAccountFiles.text(of: "/etc/passwd", rootfs: rootfs)?.contains("app:x:1000:1001:") == true)
        let image = storedImage(ImageConfig(cmd: ["id"]), rootfs: rootfs)
        #expect(try ImageJob.resolveUser("app", image: image) == ImageUser(uid: 1000, gid: 1001))
        #expect(throws: SandboxImageError.self) { try ImageJob.resolveUser("app:staff", image: image) }
    }
}
