import Foundation
import Testing

/// Boots the freestanding guests of Tests/Guests on /dev/kvm through `kiln boot` and asserts
/// what they report from inside the VM. Without a usable /dev/kvm these fail, saying why.
@Suite(.serialized) struct GuestBootTests {
    @Test func helloReachesSerialAndResetExitsZero() throws {
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("hello.elf")])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout == "hello from guest\n")
        #expect(result.stderr.contains("Guest-boot-time = "), "boot marker not reported: \(result.stderr)")
    }

    @Test func zeroPageCarriesE820CommandLineAndInitrd() throws {
        let initrd = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let initrdPath = NSTemporaryDirectory() + "kiln-initrd-\(getpid())"
        try Data(initrd).write(to: URL(fileURLWithPath: initrdPath))
        defer { try? FileManager.default.removeItem(atPath: initrdPath) }
        let cmdline = "console=ttyS0 kiln.test=zeropage quoted=\"a b\""

        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("zeropage.elf"),
                                          "--initrd", initrdPath, "--cmdline", cmdline, "--memory", "256"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let lines = result.lines
        #expect(lines.contains("BOOTFLAG ok"))
        #expect(lines.contains("HDRS ok"))
        #expect(lines.contains("LOADER 0xff"))
        #expect(lines.contains("E820COUNT 3"))
        #expect(lines.contains("E820 0 0x0 0x9fc00 1"))
        #expect(lines.contains("E820 1 0x9fc00 0x400 2"))
        #expect(lines.contains("E820 2 0x100000 0xff00000 1"))
        #expect(lines.contains("CMDLINE \(cmdline)"))
        let sum = initrd.reduce(UInt64(0)) { $0 &+ UInt64($1) }
        #expect(lines.contains("INITRD_SUM 0x\(String(sum, radix: 16))"), "\(result.stdout)")
        let initrdLine = try #require(lines.first { $0.hasPrefix("INITRD ") })
        let fields = initrdLine.split(separator: " ")
        #expect(fields.count == 3 && fields[2] == "0x\(String(initrd.count, radix: 16))")
        // Page aligned and ending below the end of RAM (256 MiB).
        let address = UInt64(fields[1].dropFirst(2), radix: 16) ?? 1
        #expect(address % 4096 == 0 && address + UInt64(initrd.count) <= 256 << 20)
        #expect(lines.contains("DONE"))
    }

    @Test func largeGuestGetsRAMAboveFourGiB() throws {
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("zeropage.elf"), "--memory", "5120"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.lines.contains("E820COUNT 4"))
        #expect(result.lines.contains("E820 2 0x100000 0xcff00000 1"))
        #expect(result.lines.contains("E820 3 0x100000000 0x70000000 1"))
        #expect(result.lines.contains("INITRD 0x0 0x0"))
    }

    /// The DSDT describes the VM generation device (VMGENCTR) with ADDR at the ID's page, and
    /// every VM gets its own random ID there (a restored clone gets a new one).
    @Test func vmGenerationIDIsDescribedAndRandom() throws {
        var ids: [String] = []
        for _ in 0..<2 {
            let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("vmgenid.elf")])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.lines.contains("VGEN found"), "\(result.stdout)")
            #expect(result.lines.contains("ADDR 0xff000"), "\(result.stdout)")
            let id = try #require(result.lines.first { $0.hasPrefix("ID ") })
            #expect(id != "ID 0x0 0x0")
            ids.append(id)
        }
        #expect(ids[0] != ids[1])
    }

    @Test func serialInputReachesGuest() throws {
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("serial_echo.elf")],
                                         stdin: "line from the host\n")
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout == "READY\nGOT line from the host\n")
    }

    /// Longer than the UART's 64-byte FIFO: the rest waits in kiln until the guest reads.
    @Test func longInputLineIsFlowControlledNotDropped() throws {
        let line = String((0..<200).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("serial_echo.elf")],
                                         stdin: line + "\n")
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout == "READY\nGOT \(line)\n")
    }

    @Test func unmappedMMIOReadsAllOnesAndGuestContinues() throws {
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("mmio_unmapped.elf")])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.lines.contains("UNMAPPED 0xffffffff"))
        #expect(result.lines.contains("UNMAPPED8 0xff"))
        #expect(result.lines.contains("UNMAPPED64 0xffffffffffffffff"))
        #expect(result.lines.contains("ALIVE"))
    }

    @Test(arguments: [2, 4])
    func secondaryVcpusComeUpThroughINITSIPI(cpus: Int) throws {
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("smp.elf"), "--cpus", "\(cpus)"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.lines.contains("MPCPUS \(cpus)"))
        for ap in 1..<cpus { #expect(result.lines.contains("AP \(ap) up"), "\(result.stdout)") }
        #expect(result.lines.contains("SMP ok"))
    }

    @Test func haltedGuestEndsTheVM() throws {
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("halt.elf")], timeout: 20)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout == "HALT\n")
    }

    @Test func tripleFaultIsAReset() throws {
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("triple_fault.elf")])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout == "TRIPLE\n")
        // The report says where the CPU was: the guest loaded an empty IDT (base 0, limit 0).
        #expect(result.stderr.contains("(triple fault); rip 0x"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains(" idt 0x0/0x0 "), "stderr: \(result.stderr)")
    }

    @Test func tripleFaultWritesTheGuestCoreWhenAsked() throws {
        let core = NSTemporaryDirectory() + "kiln-core-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: core) }
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("triple_fault.elf"), "--memory", "32"],
                                         environment: ["KILN_GUEST_CORE_ON_TRIPLE_FAULT": core])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("guest core written to \(core): 33554432 bytes"), "stderr: \(result.stderr)")
        // The guest's own image, with its message, is in the core.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: core))
        #expect(bytes.count == 32 << 20)
        #expect(bytes.range(of: Data("TRIPLE\n".utf8)) != nil)
    }

    @Test func noGuestCoreWithoutATripleFault() throws {
        let core = NSTemporaryDirectory() + "kiln-core-\(getpid())-hello"
        defer { try? FileManager.default.removeItem(atPath: core) }
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("hello.elf")],
                                         environment: ["KILN_GUEST_CORE_ON_TRIPLE_FAULT": core])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("guest core"))
        let size = (try? FileManager.default.attributesOfItem(atPath: core)[.size] as? Int) ?? -1
        #expect(size == 0)
    }

    @Test func serialOutputCanGoToAFile() throws {
        let path = NSTemporaryDirectory() + "kiln-serial-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("hello.elf"), "--serial-output", path])
        #expect(result.status == 0)
        #expect(result.stdout.isEmpty)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "hello from guest\n")
    }
}
