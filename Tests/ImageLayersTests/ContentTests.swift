import Foundation
@_spi(Fuzzing) @testable import ImageLayers
import Testing

/// Ownership, modes, links, xattrs and times land in the image exactly, as root and as uid 65534.
@Suite struct ContentTests {
    static let capability = "0100000200200000000000000000000000000000" // cap_net_raw+ep, VFS_CAP_REVISION_2

    @Test(arguments: Runner.allCases)
    func metadataIsExact(runner: Runner) throws {
        let work = try Workspace()
        let layer = try work.layer([
            .dir("./", mode: 0o755),
            .dir("etc/", mode: 0o755),
            .file("etc/owned", "owned\n", mode: 0o640, uid: 1234, gid: 5678, mtime: 1_234_567_890,
                  xattrs: ["user.test": "68656c6c6f", "security.capability": Self.capability]),
            .file("usr/bin/sudo", "#!\n", mode: 0o4755),
            .file("usr/bin/wall", "#!\n", mode: 0o2755, gid: 5),
            .dir("tmp/", mode: 0o1777),
            .symlink("etc/link", to: "owned"),
            .symlink("long", to: String(repeating: "d/", count: 60) + "target"),
            .hardlink("etc/hard", to: "etc/owned"),
        ])
        let image = try work.build([layer], as: runner).get()
        let inspect = ImageInspector(image: image)

        let owned = try #require(try inspect.stat("/etc/owned"))
        #expect(owned.type == "regular" && owned.mode == 0o640 && owned.uid == 1234 && owned.gid == 5678)
        #expect(owned.mtime == 1_234_567_890 && owned.links == 2 && owned.size == 6)
        #expect(try inspect.cat("/etc/hard") == "owned\n")
        let xattrs = try inspect.xattrs("/etc/owned")
        #expect(xattrs.contains("user.test (5) = \"hello\""), "\(xattrs)")
        #expect(xattrs.contains("security.capability (20)"), "\(xattrs)")

        #expect(try inspect.stat("/usr/bin/sudo")?.mode == 0o4755)
        let wall = try #require(try inspect.stat("/usr/bin/wall"))
        #expect(wall.mode == 0o2755 && wall.gid == 5)
        #expect(try inspect.stat("/tmp")?.mode == 0o1777)
        #expect(try inspect.stat("/usr")?.mode == 0o755, "implicit parents are 0755 root")
        let link = try #require(try inspect.stat("/etc/link"))
        #expect(link.type == "symlink" && link.mode == 0o777 && link.raw.contains("Fast link dest: \"owned\""))
        #expect(try inspect.stat("/long")?.size == 126)
        #expect(try inspect.stat("/etc")?.links == 2)

        let fsck = try inspect.fsck()
        #expect(fsck.status == 0, "\(fsck)")
        let attributes = try FileManager.default.attributesOfItem(atPath: image)
        #expect((attributes[.posixPermissions] as? Int) == 0o444)
    }

    @Test(arguments: ["none", "gzip", "zstd"])
    func everyCompression(compression: String) throws {
        let work = try Workspace()
        let big = String(repeating: "0123456789abcdef", count: 300_000) // 4.8 MB: many blocks, several reads
        let layer = try work.layer([.file("a", "plain"), .file("big", big)], compression: compression)
        let image = try work.build([layer], as: .root).get()
        let inspect = ImageInspector(image: image)
        #expect(try inspect.cat("/a") == "plain")
        #expect(try inspect.cat("/big") == big)
        #expect(try inspect.fsck().status == 0)
    }

    @Test func dockerMediaTypeAndUnknownMediaType() throws {
        let work = try Workspace()
        let layer = try work.layer([.file("a", "x")])
        let docker = LayerBlob(path: layer.path, mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
                               digest: layer.digest)
        _ = try work.build([docker], as: .root).get()
        let odd = LayerBlob(path: layer.path, mediaType: "application/vnd.oci.image.layer.v1.tar+bzip2", digest: "sha256:odd")
        let failure = try work.build([odd], as: .root, name: "odd")
        #expect(throws: BuildFailure.self) { try failure.get() }
        if case let .failure(error) = failure {
            #expect(error.description == "layer sha256:odd: unsupported media type 'application/vnd.oci.image.layer.v1.tar+bzip2'")
        }
        #expect(!FileManager.default.fileExists(atPath: work.path + "/out/odd.ext4"))
    }

    @Test func existingOutputIsRefused() throws {
        let work = try Workspace()
        let layer = try work.layer([.file("a", "x")])
        _ = try work.build([layer], as: .root).get()
        let again = try work.build([layer], as: .root)
        if case let .failure(error) = again { #expect(error.description.hasSuffix("already exists")) } else { Issue.record("overwrote") }
    }

    @Test func manyEntriesInOneDirectory() throws {
        let work = try Workspace()
        let entries = (0..<3000).map { Entry.file("many/file-with-a-longish-name-\($0)", "\($0)") }
        let image = try work.build([try work.layer(entries)], as: .root).get()
        let inspect = ImageInspector(image: image)
        #expect(try inspect.listing("/many").count == 3000)
        #expect(try inspect.cat("/many/file-with-a-longish-name-2999") == "2999")
        #expect(try inspect.fsck().status == 0)
    }
}

/// A size estimate that turns out too small costs one more attempt, not a failed build.
@Suite struct ImageSizeTests {
    @Test func fullImageIsRebuiltTwiceAsLarge() throws {
        let work = try Workspace()
        let data = String(repeating: "x", count: 3_000_000)
        let layer = try work.layer((0..<6).map { Entry.file("f\($0)", data) })
        let output = work.path + "/out/retry.ext4"
        try RootfsBuilder.build(layers: [layer], output: output, firstAttemptKibibytes: 8 * 1024)
        let inspect = ImageInspector(image: output)
        #expect(try inspect.cat("/f5") == data)
        #expect(try inspect.fsck().status == 0)
    }
}

/// A layer whose files would not fit where the image is written (a layer bomb, in small) is
/// refused from the headers, before mke2fs or a byte of data: the store's disk is not filled.
@Suite(.serialized) struct RoomTests {
    @Test func anImageLargerThanTheFreeSpaceIsRefusedUpFront() throws {
        // Mounting the small file system needs root, as the whole suite does (scripts/test.sh runs as root).
        try #require(getuid() == 0, "this test mounts a tmpfs and must run as root")
        let work = try Workspace()
        let small = NSTemporaryDirectory() + "kiln-room-\(getpid())"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        defer { _ = umount2(small, 0); try? FileManager.default.removeItem(atPath: small) }
        try #require(mount("tmpfs", small, "tmpfs", 0, "size=8m") == 0, "mount tmpfs: errno \(errno)")
        let big = String(repeating: "x", count: 12 << 20)   // 12 MiB of file data, 8 MiB of room
        let layer = try work.layer([.file("big", big)], compression: "gzip")
        let output = small + "/rootfs.ext4"
        do {
            try RootfsBuilder.build(layers: [layer], output: output)
            Issue.record("built an image larger than its file system")
        } catch {
            guard case .tooLarge(let reason) = error else {
                Issue.record("wrong error: \(error)")
                return
            }
            #expect(reason.contains("MiB free"), "\(reason)")
        }
        #expect(!FileManager.default.fileExists(atPath: output), "nothing is left where the image would go")
    }
}

/// `RootfsBuilder.plan` (the layer fuzz target's fast path) refuses what `build` refuses, with
/// the same error, and sizes an image as `build` does, without writing anything.
@Suite struct PlanTests {
    @Test func planRefusesWhatBuildRefusesAndWritesNothing() throws {
        let work = try Workspace()
        let hostile = try work.layer([.file("a/../../evil", "x")])
        var planError: RootfsBuildError?
        do { _ = try RootfsBuilder.plan(layers: [hostile]) } catch { planError = error }
        var buildError: RootfsBuildError?
        do { try RootfsBuilder.build(layers: [hostile], output: work.path + "/out/hostile.ext4") } catch { buildError = error }
        #expect(planError != nil && planError?.description == buildError?.description, "\(String(describing: planError))")
        #expect(try work.canaryUntouched())

        let layer = try work.layer([.dir("d"), .file("d/f", String(repeating: "y", count: 100_000))])
        let plan = try RootfsBuilder.plan(layers: [layer])
        #expect(try FileManager.default.contentsOfDirectory(atPath: work.path + "/out").isEmpty, "plan wrote nothing")
        let output = work.path + "/out/planned.ext4"
        try RootfsBuilder.build(layers: [layer], output: output)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: output)[.size] as? Int)
        #expect(size > 0 && Int64(size) <= plan.kibibytes * 1024, "the image fits its plan (\(size) bytes, \(plan.kibibytes) KiB)")
        #expect(plan.inodes >= 3)
    }
}

/// A build tells how far it is: each layer as the first pass reads it, then the file data
/// written, every `dataStep` bytes and once at the end.
@Suite struct BuildProgressTests {
    @Test func layersThenDataUpToTheTotal() throws {
        let work = try Workspace()
        let data = String(repeating: "y", count: 1_000_000)
        let first = try work.layer((0..<3).map { Entry.file("a\($0)", data) })
        let second = try work.layer([.file("b", data), .file("a0", "replaced\n")], compression: "zstd")
        var events: [RootfsBuildProgress] = []
        try RootfsBuilder.build(layers: [first, second], output: work.path + "/out/progress.ext4", firstAttemptKibibytes: nil,
                                dataStep: 1_500_000) { events.append($0) }
        // a0's first megabyte is whited out by the second layer's a0: 3 MB and 9 bytes survive.
        let total = Int64(3_000_009)
        #expect(events == [.readingLayer(index: 1, count: 2), .readingLayer(index: 2, count: 2),
                           .writingData(written: 2_000_000, total: total), .writingData(written: total, total: total)],
                "\(events)")
        #expect(RootfsBuildProgress.writingData(written: 2_000_000, total: total).description == "Writing files: 2 of 3 MB")
        #expect(RootfsBuildProgress.readingLayer(index: 1, count: 2).description == "Reading layer 1 of 2")
    }
}
