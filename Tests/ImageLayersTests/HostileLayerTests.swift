import Foundation
import ImageLayers
import Testing

/// Crafted archives are refused (naming the entry) or contained in the image; the host's canary
/// directory, which the archives aim at, never changes.
@Suite struct HostileLayerTests {
    private func refused(_ entries: [Entry], as runner: Runner, _ expected: String) throws {
        let work = try Workspace()
        let result = try work.build([try work.layer(entries)], as: runner)
        guard case let .failure(error) = result else {
            Issue.record("built an image from a hostile layer; expected: \(expected)")
            return
        }
        #expect(error.description.contains(expected), "\(error)")
        #expect(try work.canaryUntouched())
        #expect(!FileManager.default.fileExists(atPath: work.path + "/out/rootfs.ext4"), "a failed build leaves no output")
    }

    @Test(arguments: Runner.allCases)
    func dotDotIsRefused(runner: Runner) throws {
        try refused([.file("../../canary/evil", "x")], as: runner, "entry '../../canary/evil' refused: path contains '..'")
        try refused([.file("a/../../evil", "x")], as: runner, "entry 'a/../../evil' refused: path contains '..'")
        try refused([.file("a", "x"), .hardlink("h", to: "../../etc/passwd")], as: runner, "entry 'h' refused")
    }

    @Test(arguments: Runner.allCases)
    func absolutePathsAreContained(runner: Runner) throws {
        let work = try Workspace()
        let layer = try work.layer([.file(work.canary + "/evil", "x"), .file("/etc/abs", "y")])
        let image = try work.build([layer], as: runner).get()
        let inspect = ImageInspector(image: image)
        #expect(try inspect.cat(work.canary + "/evil") == "x")
        #expect(try inspect.cat("/etc/abs") == "y")
        #expect(try work.canaryUntouched())
    }

    @Test(arguments: Runner.allCases)
    func symlinksFromEarlierLayersAreResolvedInsideTheImage(runner: Runner) throws {
        let work = try Workspace()
        let planted = try work.layer([
            .symlink("abs", to: work.canary), .symlink("up", to: "../../../../../../.."),
            .symlink("etc", to: "/host/etc"), .symlink("loop", to: "loop"),
        ])
        let attack = try work.layer([
            .file("abs/evil", "1"), .file("up/" + work.canary.dropFirst() + "/evil2", "2"), .file("etc/passwd", "3"),
            .hardlink("abs/linked", to: "etc/passwd"),
        ])
        let image = try work.build([planted, attack], as: runner).get()
        let inspect = ImageInspector(image: image)
        #expect(try inspect.cat(work.canary + "/evil") == "1")
        #expect(try inspect.cat(work.canary + "/evil2") == "2")
        #expect(try inspect.cat("/host/etc/passwd") == "3")
        #expect(try inspect.stat(work.canary + "/linked")?.links == 2)
        #expect(try inspect.stat("/abs")?.type == "symlink")
        #expect(try work.canaryUntouched())
        #expect(try inspect.fsck().status == 0)

        let looping = try work.build([planted, try work.layer([.file("loop/x", "x")])], as: runner, name: "loop")
        guard case let .failure(error) = looping else { Issue.record("followed a symlink loop"); return }
        #expect(error.description.contains("entry 'loop/x' refused: too many levels of symlinks"))
    }

    @Test(arguments: Runner.allCases)
    func hardLinksMustStayInTheImage(runner: Runner) throws {
        try refused([.hardlink("h", to: "/etc/passwd")], as: runner, "entry 'h' refused: hard link target '/etc/passwd' is not in the image")
        try refused([.dir("d/"), .hardlink("h", to: "d")], as: runner, "entry 'h' refused: hard link to a directory")

        // A hard link to a symlink aimed at a host file links the symlink itself: no host bytes are read.
        let work = try Workspace()
        let layer = try work.layer([.symlink("hostfile", to: work.canary + "/keep"), .hardlink("h", to: "hostfile")])
        let image = try work.build([layer], as: runner).get()
        let linked = try #require(try ImageInspector(image: image).stat("/h"))
        #expect(linked.type == "symlink" && linked.links == 2)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: image))
        #expect(bytes.range(of: Data("untouched".utf8)) == nil)
    }

    @Test(arguments: Runner.allCases)
    func devicesAndFifosExistOnlyInTheImage(runner: Runner) throws {
        let work = try Workspace()
        let layer = try work.layer([
            .device("dev/null", type: "char", major: 1, minor: 3), .device("dev/sda", type: "block", major: 8, minor: 0),
            .device("dev/big", type: "char", major: 300, minor: 70000), .device("run/fifo", type: "fifo"),
        ])
        let image = try work.build([layer], as: runner).get()
        let inspect = ImageInspector(image: image)
        let null = try #require(try inspect.stat("/dev/null"))
        #expect(null.type == "character" && null.raw.contains("Device major/minor number: 01:03"), "\(null.raw)")
        #expect(try inspect.stat("/dev/sda")?.type == "block")
        let big = try #require(try inspect.stat("/dev/big"))
        #expect(big.raw.contains("300:70000"), "\(big.raw)")
        #expect(try inspect.stat("/run/fifo")?.type == "FIFO")
        #expect(try inspect.fsck().status == 0)
        #expect(try work.canaryUntouched())
    }

    @Test func truncatedAndGarbageLayersAreErrors() throws {
        let work = try Workspace()
        let layer = try work.layer([.file("big", String(repeating: "z", count: 100_000))], compression: "none")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: layer.path))
        try bytes.prefix(20_000).write(to: URL(fileURLWithPath: layer.path))
        let truncated = try work.build([layer], as: .root)
        guard case let .failure(error) = truncated else { Issue.record("accepted a truncated layer"); return }
        #expect(error.description.hasPrefix("layer sha256:layer1: "), "\(error)")
        try Data("not a tar at all".utf8).write(to: URL(fileURLWithPath: layer.path))
        let garbage = try work.build([layer], as: .root, name: "garbage")
        guard case let .failure(error) = garbage else { Issue.record("accepted garbage"); return }
        #expect(error.description.contains("cannot read archive"), "\(error)")
    }
}

/// Limits that keep a crafted archive from exhausting the builder rather than the host's files.
@Suite struct LayerLimitTests {
    @Test func deepNestingIsBoundedAndSymlinkChainsCannotExtendIt() throws {
        let work = try Workspace()
        let deep = Array(repeating: "d", count: 1000).joined(separator: "/")
        let fine = try work.layer([.file(deep + "/leaf", "ok"), .symlink("s", to: deep)])
        let image = try work.build([fine], as: .root).get()
        #expect(try ImageInspector(image: image).cat("/" + deep + "/leaf") == "ok")

        let deeper = try work.layer([.file("s/" + Array(repeating: "e", count: 100).joined(separator: "/") + "/x", "no")])
        let result = try work.build([fine, deeper], as: .root, name: "deeper")
        guard case let .failure(error) = result else { Issue.record("nested past the limit"); return }
        #expect(error.description.contains("nested deeper than 1024 directories"), "\(error)")
    }

    @Test func overlongNamesAndTargetsAreRefused() throws {
        let work = try Workspace()
        let name = String(repeating: "n", count: 256)
        let long = try work.build([try work.layer([.file(name, "x")])], as: .root, name: "name")
        guard case let .failure(error) = long else { Issue.record("accepted a 256-byte name"); return }
        #expect(error.description.contains("longer than 255 bytes"))
        let target = try work.build([try work.layer([.symlink("l", to: String(repeating: "t", count: 4096))])], as: .root, name: "t")
        guard case let .failure(error) = target else { Issue.record("accepted a 4096-byte target"); return }
        #expect(error.description.contains("entry 'l' refused: symlink target longer than 4095 bytes"))
    }
}
