import Foundation
import Testing

/// `kiln setup` installs the kernel and agent initramfs into kiln's data directory, and `kiln
/// run` then finds them without flags or environment.
@Suite struct SetupCLITests {
    let data = NSTemporaryDirectory() + "kiln-setup-\(UUID().uuidString)"

    @Test func installsAndRunFindsTheKernel() throws {
        defer { try? FileManager.default.removeItem(atPath: data) }
        let environment = ["KILN_DATA_DIR": data, "KILN_VMLINUX": "", "KILN_AGENT_INITRD": ""]
        // Before: run names the missing kernel and how to install one.
        let before = try KilnProcess.run(["run", "--rootfs", "/proc/self/exe", "--", "true"], environment: environment)
        #expect(before.status == 125 && before.stderr.contains("kiln setup --kernel"), "\(before.stderr)")

        let bad = try KilnProcess.run(["setup", "--kernel", "/etc/hostname", "--agent-initrd", "/nonexistent/initrd"],
                                      environment: environment)
        #expect(bad.status == 125 && bad.stderr.contains("--agent-initrd /nonexistent/initrd"), "\(bad.stderr)")
        // Checked before anything is copied: the good kernel was not installed either.
        #expect(!FileManager.default.fileExists(atPath: data + "/vmlinux"))

        let setup = try KilnProcess.run(["setup", "--kernel", "/etc/hostname", "--agent-initrd", "/etc/hostname"], environment: environment)
        #expect(setup.status == 0, "\(setup.stderr)")
        #expect(FileManager.default.contentsEqual(atPath: data + "/vmlinux", andPath: "/etc/hostname"))
        #expect(FileManager.default.contentsEqual(atPath: data + "/agent-initrd.cpio", andPath: "/etc/hostname"))
        let status = try KilnProcess.run(["setup"], environment: environment)
        #expect(status.stdout.contains("kernel: \(data)/vmlinux") && status.stdout.contains("agent initramfs: \(data)/agent-initrd.cpio"),
                "\(status.stdout)")

        // After: the kernel is found, so the next problem reported is the rootfs.
        let after = try KilnProcess.run(["run", "--rootfs", "/nonexistent/img", "--", "true"], environment: environment)
        #expect(after.status == 125 && after.stderr.contains("--rootfs /nonexistent/img"), "\(after.stderr)")
    }
}
