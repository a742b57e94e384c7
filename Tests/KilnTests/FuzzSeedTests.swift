import ChildProcessSupport
import Foundation
import Testing

/// The fuzz targets in the plain build: every target's seed inputs (what `Fuzz/run-ci.sh`
/// starts each corpus from) run through it once, with its invariants checked, so a target
/// that rots or a seed that no longer passes shows up in `swift test` too.
@Suite struct FuzzSeedTests {
    static var binary: String {
        URL(fileURLWithPath: KilnProcess.binary).deletingLastPathComponent().appendingPathComponent("kiln-fuzz").path
    }

    static let targets = ["queue", "mmio", "rng", "block", "net", "vsock", "fs", "elf", "bzimage", "api", "config",
                          "agent", "imageref", "layer", "snapshot", "restore", "ociconfig", "http"]

    @Test func listsEveryTarget() throws {
        let list = try KilnProcess.execute(Self.binary, ["list"], timeout: 30)
        #expect(list.status == 0)
        #expect(list.lines.filter { !$0.isEmpty }.map { String($0.split(separator: " ")[0]) } == Self.targets)
    }

    @Test(arguments: targets)
    func seedsPassTheirTarget(_ target: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-fuzz-seeds-\(getpid())-\(target)")
        try? FileManager.default.removeItem(at: directory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = try KilnProcess.execute(Self.binary, ["seeds", target, directory.path], timeout: 30)
        #expect(written.status == 0, "\(written)")
        let seeds = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(!seeds.isEmpty)
        let replay = try KilnProcess.execute(Self.binary, [target] + seeds.map { directory.appendingPathComponent($0).path },
                                             timeout: 120, environment: ["KILN_FUZZ_TMP": directory.path])
        #expect(replay.status == 0, "\(replay)")
        #expect(replay.lines.filter { $0.hasSuffix(": ok") }.count == seeds.count)
    }
}
