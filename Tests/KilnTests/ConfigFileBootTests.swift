import Foundation
import Testing

/// `kiln --config-file` with Firecracker's JSON format, end to end on a test guest.
@Suite struct ConfigFileBootTests {
    func write(_ json: String) throws -> String {
        let path = NSTemporaryDirectory() + "kiln-config-\(getpid())-\(UUID().uuidString).json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func bootsTheDescribedVM() throws {
        let guest = try KilnProcess.guest("zeropage.elf")
        let path = try write("""
            {"boot-source": {"kernel_image_path": "\(guest)", "boot_args": "console=ttyS0 from-config"},
             "machine-config": {"vcpu_count": 2, "mem_size_mib": 64}}
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try KilnProcess.run(["--config-file", path, "--no-api"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.lines.contains("CMDLINE console=ttyS0 from-config"))
        #expect(result.lines.contains("E820 2 0x100000 0x3f00000 1"), "\(result.stdout)") // 64 MiB
    }

    @Test func badConfigIsOneLineAndNoVM() throws {
        let path = try write(#"{"boot-source": {"kernel_image_path": "/k"}, "machin-config": {}}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try KilnProcess.run(["--config-file", path, "--no-api"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("unknown field 'machin-config'"), "\(result.stderr)")
    }

    @Test func configFileBootsAtOnceAndNamesAMissingKernel() throws {
        let path = try write(#"{"boot-source": {"kernel_image_path": "/k"}}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try KilnProcess.run(["--config-file", path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("/k: No such file or directory"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func apiFlagsThatExcludeEachOther() throws {
        let result = try KilnProcess.run(["--api-sock", "/tmp/x.sock", "--no-api"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--no-api and --api-sock exclude each other"))
        let alone = try KilnProcess.run(["--no-api"])
        #expect(alone.status == 1 && alone.stderr.contains("--no-api needs --config-file"))
    }
}
