import Foundation
import Testing

/// `kiln run` refuses bad input with one line naming the problem before it starts any VM, and
/// exits 125: its own failures never look like a status the command could have returned.
@Suite struct RunCLIErrorTests {
    func expectOneLineError(_ arguments: [String], mentioning needle: String) throws {
        let result = try KilnProcess.run(arguments)
        #expect(result.status == 125, "\(arguments): exit \(result.status)")
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "expected one line, got: \(result.stderr)")
        #expect(result.stderr.contains(needle), "\(result.stderr)")
    }

    // Real files, so only the option under test is wrong.
    let kernel = "/proc/self/exe"
    let rootfs = "/proc/self/exe"

    @Test func noCommand() throws {
        try expectOneLineError(["run", "--kernel", kernel, "--rootfs", rootfs], mentioning: "no command")
    }

    @Test func fromSnapshotRefusesWhatTheSnapshotFixesAndMissingSnapshots() throws {
        let empty = NSTemporaryDirectory() + "kiln-no-snapshot-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        for option in [["--memory", "512"], ["--cpus", "2"], ["--rootfs", rootfs], ["--image", "x"], ["--net"], ["-v", "/tmp:/mnt"],
                       ["--disk-size", "1G"]] {
            try expectOneLineError(["run", "--from", empty] + option + ["--", "true"], mentioning: "\(option[0]) cannot be given")
            try expectOneLineError(["create", "--name", "x", "--from", empty] + option, mentioning: "\(option[0]) cannot be given")
        }
        try expectOneLineError(["run", "--from", empty, "--", "true"], mentioning: "no snapshot record")
        try expectOneLineError(["create", "--name", "from-nothing", "--from", empty], mentioning: "no snapshot record")
        try FileManager.default.createDirectory(atPath: empty + "/s", withIntermediateDirectories: true)
        try "format=1\nrootfs=relative\n".write(toFile: empty + "/s/sandbox", atomically: true, encoding: .utf8)
        try expectOneLineError(["run", "--from", empty + "/s", "--", "true"], mentioning: "rootfs: missing or not an absolute path")
        let sandboxes = NSTemporaryDirectory() + "kiln-sandboxes-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: sandboxes) }
        let result = try KilnProcess.run(["snapshot", "no-such-sandbox", empty + "/new"], environment: ["KILN_SANDBOX_DIR": sandboxes])
        #expect(result.status == 125 && result.stderr.contains("no sandbox named no-such-sandbox"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: empty + "/new"))
    }

    @Test func malformedOptions() throws {
        let base = ["run", "--kernel", kernel, "--rootfs", rootfs]
        try expectOneLineError(base + ["--env", "NOVALUE", "--", "true"], mentioning: "--env NOVALUE")
        try expectOneLineError(base + ["--env", "=x", "--", "true"], mentioning: "--env =x")
        try expectOneLineError(base + ["--workdir", "relative", "--", "true"], mentioning: "--workdir relative")
        try expectOneLineError(base + ["--copy-in", "nocolon", "--", "true"], mentioning: "--copy-in nocolon")
        try expectOneLineError(base + ["--copy-in", "/etc/hostname:relative", "--", "true"], mentioning: "absolute")
        try expectOneLineError(base + ["--copy-in", "/nonexistent-kiln:/x", "--", "true"], mentioning: "/nonexistent-kiln")
        try expectOneLineError(base + ["--copy-out", ":x", "--", "true"], mentioning: "--copy-out :x")
        try expectOneLineError(base + ["--cpus", "0", "--", "true"], mentioning: "--cpus 0")
        try expectOneLineError(base + ["--memory", "4", "--", "true"], mentioning: "--memory 4")
        try expectOneLineError(base + ["--timeout", "0", "--", "true"], mentioning: "--timeout")
        for user in ["root", "1000:", ":1000", "1:2:3", "1000:-1", "4294967295", "1000:x"] {
            try expectOneLineError(base + ["--user", user, "--", "true"], mentioning: "--user \(user)")
        }
    }

    @Test func badVolumes() throws {
        for command in ["run", "create"] {
            let base = [command, "--kernel", kernel, "--rootfs", rootfs] + (command == "create" ? ["--name", "kiln-v-test"] : [])
            let tail = command == "run" ? ["--", "true"] : []
            try expectOneLineError(base + ["-v", "/tmp"] + tail, mentioning: "-v /tmp: expected HOST:GUEST")
            try expectOneLineError(base + ["-v", "/tmp:relative"] + tail, mentioning: "absolute")
            try expectOneLineError(base + ["-v", "/tmp:/mnt/../etc"] + tail, mentioning: "'..'")
            try expectOneLineError(base + ["-v", "/nonexistent-kiln:/mnt"] + tail, mentioning: "/nonexistent-kiln")
            try expectOneLineError(base + ["--volume", "/proc/self/exe:/mnt"] + tail, mentioning: "is not a directory")
            try expectOneLineError(base + ["-v", "/tmp:/mnt", "-v", "/:/mnt"] + tail, mentioning: "shared twice")
        }
    }

    @Test func usageErrorsExit125() throws {
        let result = try KilnProcess.run(["run", "--no-such-option", "--", "true"])
        #expect(result.status == 125, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("--no-such-option"))
    }

    @Test func tooLongTMPDIR() throws {
        // The check comes before the directory is made, so TMPDIR need not exist.
        let tmpdir = "/tmp/" + String(repeating: "t", count: 100)
        let result = try KilnProcess.run(["run", "--kernel", kernel, "--rootfs", rootfs, "--", "true"],
                                         environment: ["TMPDIR": tmpdir])
        #expect(result.status == 125, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("TMPDIR") && result.stderr.contains("socket path"), "\(result.stderr)")
    }

    @Test func agentInitrdAndDiskSize() throws {
        let base = ["run", "--kernel", kernel, "--rootfs", rootfs]
        try expectOneLineError(base + ["--agent-initrd", "/nonexistent/agent-initrd.cpio", "--", "true"],
                               mentioning: "--agent-initrd /nonexistent/agent-initrd.cpio")
        let result = try KilnProcess.run(base + ["--", "true"], environment: ["KILN_AGENT_INITRD": "/nonexistent/initrd"])
        #expect(result.status == 125 && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("--agent-initrd /nonexistent/initrd"), "\(result.stderr)")
        for bad in ["2X", "", "1.5G", "0x10M"] {
            try expectOneLineError(base + ["--disk-size", bad, "--", "true"], mentioning: "--disk-size \(bad): expected a size")
        }
        try expectOneLineError(base + ["--disk-size", "63M", "--", "true"], mentioning: "--disk-size 63M: at least 64M")
        try expectOneLineError(["create", "--name", "x", "--kernel", kernel, "--rootfs", rootfs, "--disk-size", "1K"],
                               mentioning: "--disk-size 1K: at least 64M")
    }

    @Test func bootTimeoutOutOfRange() throws {
        for bad in ["0", "0.5", "3601", "inf", "nan"] {
            try expectOneLineError(["run", "--kernel", kernel, "--rootfs", rootfs, "--boot-timeout", bad, "--", "true"],
                                   mentioning: "must be 1 to 3600 seconds")
        }
        try expectOneLineError(["create", "--name", "x", "--kernel", kernel, "--rootfs", rootfs, "--boot-timeout", "0"],
                               mentioning: "--boot-timeout 0.0: must be 1 to 3600 seconds")
    }

    @Test func missingImages() throws {
        try expectOneLineError(["run", "--kernel", "/nonexistent/vmlinux", "--rootfs", rootfs, "--", "true"],
                               mentioning: "/nonexistent/vmlinux")
        try expectOneLineError(["run", "--kernel", kernel, "--rootfs", "/nonexistent/img", "--", "true"],
                               mentioning: "/nonexistent/img")
    }
}
