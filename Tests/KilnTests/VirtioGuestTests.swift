import Foundation
import Testing

/// Boots Tests/Guests' virtio guests through `kiln boot --drive/--entropy`: a tiny polled
/// driver inside the VM negotiates with Kiln's virtio-mmio devices and drives split virtqueues,
/// and these tests check both what the guest reports and, for writes, the disk image on the host.
/// Without a usable /dev/kvm these fail, saying why.
@Suite(.serialized) struct VirtioGuestTests {
    static let sectorSize = 512
    /// What virtio_blk.elf writes to sector 1.
    static let sectorOnePattern = Array(String(repeating: "KILN-SECTOR-ONE!", count: 32).utf8)

    /// A disk image of `size` bytes with a distinct, non-zero byte pattern, removed at deinit.
    final class DiskImage {
        let path: String
        let original: [UInt8]

        init(_ name: String, size: Int, seed: Int) throws {
            path = NSTemporaryDirectory() + "kiln-virtio-\(name)-\(getpid())"
            original = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ seed) | 1 }
            try Data(original).write(to: URL(fileURLWithPath: path))
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }

        var contents: [UInt8] { get throws { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } }

        func sector(_ index: Int) -> ArraySlice<UInt8> {
            original[index * VirtioGuestTests.sectorSize..<(index + 1) * VirtioGuestTests.sectorSize]
        }
    }

    static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }

    /// The full output virtio_blk.elf should print for a healthy device.
    static func expectedBlockOutput(base: String, capacity: Int, readOnly: Bool, serial: String,
                                    sector0: ArraySlice<UInt8>, sector1: ArraySlice<UInt8>) -> [String] {
        var lines = [
            "BLK id 2",
            "BASE \(base)",
            "CAPACITY \(capacity)",
            "RO \(readOnly ? 1 : 0)",
            "SERIAL \(serial)",
            "READ0 \(hex(sector0.prefix(16)))",
            "READ0 STATUS 0",
            "READ0 used_len 513",
            "ISR 0x1",
        ]
        if readOnly {
            lines += ["WRITE1 STATUS 1"]
        } else {
            lines += ["WRITE1 STATUS 0", "FLUSH STATUS 0"]
        }
        lines += [
            "READ1 \(hex(sector1.prefix(16)))",
            "READ1 STATUS 0",
            "READPAST STATUS 1",
            "BADADDR used_len 0",
            "BADADDR status 0xff",
            "AFTERBAD STATUS 0",
            "DONE",
        ]
        return lines
    }

    /// Checks an image against what it should hold, naming the first differing byte rather than
    /// printing a megabyte of array on failure.
    func expectImage(_ disk: DiskImage, equals expected: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let contents = try disk.contents
        let firstDifference = zip(contents, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(contents.count == expected.count && firstDifference == nil,
                "image \(contents.count) bytes, expected \(expected.count); first difference at byte \(firstDifference.map(String.init) ?? "none")",
                sourceLocation: sourceLocation)
    }

    func boot(_ guest: String, _ arguments: [String]) throws -> KilnProcess.Result {
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest(guest)] + arguments)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        return result
    }

    func expectOutput(_ result: KilnProcess.Result, _ expected: [String]) {
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines == expected + [""], "guest output:\n\(result.stdout)\nstderr: \(result.stderr)")
    }

    /// Both I/O engines, under the devices thread's seccomp filter.
    static let engines = ["", ",io=sync", ",io=async"]

    @Test(arguments: engines)
    func blockDeviceReadsWritesAndFlushesTheImage(engine: String) throws {
        let disk = try DiskImage("rw", size: 1 << 20, seed: 3)
        let result = try boot("virtio_blk.elf", ["--drive", disk.path + engine])
        #expect(!result.stderr.contains("uses the Sync engine"), "stderr: \(result.stderr)")
        expectOutput(result, Self.expectedBlockOutput(
            base: "0xd0001000", capacity: 2048, readOnly: false, serial: "kiln-drive0",
            sector0: disk.sector(0), sector1: Self.sectorOnePattern[...]))

        // The write reached the file, and nothing but sector 1 changed.
        var expected = disk.original
        expected.replaceSubrange(Self.sectorSize..<2 * Self.sectorSize, with: Self.sectorOnePattern)
        try expectImage(disk, equals: expected)
    }

    @Test(arguments: engines)
    func readOnlyDriveRefusesWritesAndLeavesTheImageAlone(engine: String) throws {
        let disk = try DiskImage("ro", size: 1 << 20, seed: 11)
        let result = try boot("virtio_blk.elf", ["--drive", disk.path + ",ro" + engine])
        expectOutput(result, Self.expectedBlockOutput(
            base: "0xd0001000", capacity: 2048, readOnly: true, serial: "kiln-drive0",
            sector0: disk.sector(0), sector1: disk.sector(1)))
        try expectImage(disk, equals: disk.original)
    }

    @Test func entropyDeviceFillsBuffers() throws {
        let result = try boot("virtio_rng.elf", ["--entropy"])
        expectOutput(result, [
            "NOV1 FEATURES_OK 0",
            "RNG id 4",
            "BASE 0xd0001000",
            "RNG len 64",
            "RNG len 64",
            "RNG differ 1",
            "RNG devread len 0",
            "DONE",
        ])
    }

    @Test func guestsFindNoDeviceWhenNoneIsConfigured() throws {
        expectOutput(try boot("virtio_blk.elf", []), ["BLK none", "DONE"])
        expectOutput(try boot("virtio_rng.elf", []), ["RNG none", "DONE"])
    }

    /// Drives take consecutive 4 KiB windows from 0xd0001000 in command-line order, the rng the
    /// next one, with IRQs 5, 6, 7; each drive is its own file and its own serial.
    @Test func drivesThenEntropyGetConsecutiveWindows() throws {
        let first = try DiskImage("first", size: 1 << 20, seed: 5)
        // A partial last sector is not addressable: 64 KiB + 100 bytes is 128 sectors.
        let second = try DiskImage("second", size: (64 << 10) + 100, seed: 9)
        let devices = ["--drive", first.path, "--drive", second.path, "--entropy"]

        // Without ACPI the devices are announced on the kernel command line...
        let zeroPage = try boot("zeropage.elf", devices + ["--cmdline", "console=ttyS0", "--no-acpi"])
        #expect(zeroPage.lines.contains("CMDLINE console=ttyS0 virtio_mmio.device=4K@0xd0001000:5 "
                                        + "virtio_mmio.device=4K@0xd0002000:6 virtio_mmio.device=4K@0xd0003000:7"),
                "\(zeroPage.stdout)")
        // ...with ACPI (the default) in the DSDT only: hardware-reduced ACPI gives command-line
        // devices no interrupt, and a second description would probe each device twice.
        let withACPI = try boot("zeropage.elf", devices + ["--cmdline", "console=ttyS0"])
        #expect(withACPI.lines.contains("CMDLINE console=ttyS0"), "\(withACPI.stdout)")

        let onSecond = try boot("virtio_blk.elf", devices + ["--cmdline", "blk=1"])
        expectOutput(onSecond, Self.expectedBlockOutput(
            base: "0xd0002000", capacity: 128, readOnly: false, serial: "kiln-drive1",
            sector0: second.sector(0), sector1: Self.sectorOnePattern[...]))
        var expected = second.original
        expected.replaceSubrange(Self.sectorSize..<2 * Self.sectorSize, with: Self.sectorOnePattern)
        try expectImage(second, equals: expected)
        try expectImage(first, equals: first.original)

        let onFirst = try boot("virtio_blk.elf", ["--drive", first.path + ",ro", "--drive", second.path, "--entropy",
                                                  "--cmdline", "blk=0"])
        expectOutput(onFirst, Self.expectedBlockOutput(
            base: "0xd0001000", capacity: 2048, readOnly: true, serial: "kiln-drive0",
            sector0: first.sector(0), sector1: first.sector(1)))
        try expectImage(first, equals: first.original)

        let rng = try boot("virtio_rng.elf", devices)
        #expect(rng.lines.contains("BASE 0xd0003000"), "\(rng.stdout)")
        #expect(rng.lines.contains("RNG differ 1"), "\(rng.stdout)")

        expectOutput(try boot("virtio_blk.elf", devices + ["--cmdline", "blk=2"]), ["BLK none", "DONE"])
    }
}
