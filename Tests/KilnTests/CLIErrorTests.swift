import Foundation
import Testing

/// Bad input gets one line on stderr naming the problem and a non-zero exit; no VM runs.
@Suite struct CLIErrorTests {
    func expectOneLineError(_ arguments: [String], mentioning needle: String) throws {
        let result = try KilnProcess.run(arguments)
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "expected one line, got: \(result.stderr)")
        #expect(result.stderr.contains(needle), "\(result.stderr)")
    }

    @Test func missingKernelFile() throws {
        try expectOneLineError(["boot", "--kernel", "/nonexistent/vmlinux"], mentioning: "/nonexistent/vmlinux")
    }

    @Test func zeroAndTooManyVcpus() throws {
        let guest = try KilnProcess.guest("hello.elf")
        try expectOneLineError(["boot", "--kernel", guest, "--cpus", "0"], mentioning: "vCPU count")
        try expectOneLineError(["boot", "--kernel", guest, "--cpus", "1000"], mentioning: "exceeds the maximum")
    }

    @Test func memoryTooSmallOrTooLarge() throws {
        let guest = try KilnProcess.guest("hello.elf")
        try expectOneLineError(["boot", "--kernel", guest, "--memory", "1"], mentioning: "below the minimum")
        try expectOneLineError(["boot", "--kernel", guest, "--memory", "100000000"], mentioning: "exceeds the host")
    }

    @Test func garbageAndTruncatedImages() throws {
        let dir = NSTemporaryDirectory()
        let garbage = dir + "kiln-garbage-\(getpid())", truncated = dir + "kiln-truncated-\(getpid())"
        defer { for path in [garbage, truncated] { try? FileManager.default.removeItem(atPath: path) } }
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 * 13) }).write(to: URL(fileURLWithPath: garbage))
        let elf = try Data(contentsOf: URL(fileURLWithPath: try KilnProcess.guest("hello.elf")))
        try elf.prefix(100).write(to: URL(fileURLWithPath: truncated))
        try expectOneLineError(["boot", "--kernel", garbage], mentioning: garbage)
        try expectOneLineError(["boot", "--kernel", truncated], mentioning: truncated)
    }

    @Test func badNetworkInterfaces() throws {
        let guest = try KilnProcess.guest("hello.elf")
        try expectOneLineError(["boot", "--kernel", guest, "--net", "tap0,mac=06:00:zz:00:00:01"],
                               mentioning: "invalid MAC address '06:00:zz:00:00:01'")
        try expectOneLineError(["boot", "--kernel", guest, "--net", "tap0,speed=10"], mentioning: "unknown option 'speed=10'")
        try expectOneLineError(["boot", "--kernel", guest, "--net", ""], mentioning: "--net needs a TAP")
        try expectOneLineError(["boot", "--kernel", guest, "--net", "a/b"], mentioning: "invalid TAP interface name")
        try expectOneLineError(["boot", "--kernel", guest, "--net", "tap0", "--net", "tap0"], mentioning: "TAP tap0 is used by two")
    }

    @Test func badVsockArguments() throws {
        let guest = try KilnProcess.guest("hello.elf")
        try expectOneLineError(["boot", "--kernel", guest, "--vsock", "3"], mentioning: "CID,PATH")
        try expectOneLineError(["boot", "--kernel", guest, "--vsock", "x,/tmp/v.sock"], mentioning: "not a number")
        try expectOneLineError(["boot", "--kernel", guest, "--vsock", "2,/tmp/v.sock"], mentioning: "guest CID 2")
        try expectOneLineError(["boot", "--kernel", guest, "--vsock", "3,"], mentioning: "socket path")
        try expectOneLineError(["boot", "--kernel", guest, "--vsock", "3,/proc/self/exe"], mentioning: "already exists")
        try expectOneLineError(["boot", "--kernel", guest, "--vsock", "3,/nonexistent-dir/v.sock"],
                               mentioning: "/nonexistent-dir/v.sock")
    }

    @Test func badShares() throws {
        let guest = try KilnProcess.guest("hello.elf")
        try expectOneLineError(["boot", "--kernel", guest, "--share", "/tmp"], mentioning: "--share needs DIR:TAG")
        try expectOneLineError(["boot", "--kernel", guest, "--share", "/tmp:"], mentioning: "no tag")
        try expectOneLineError(["boot", "--kernel", guest, "--share", ":tag"], mentioning: "no host directory")
        try expectOneLineError(["boot", "--kernel", guest, "--share", "/nonexistent-kiln:tag"], mentioning: "/nonexistent-kiln")
        try expectOneLineError(["boot", "--kernel", guest, "--share", "/proc/self/exe:tag"], mentioning: "is not a directory")
        try expectOneLineError(["boot", "--kernel", guest, "--share", "/tmp:\(String(repeating: "t", count: 37))"],
                               mentioning: "1 to 36 bytes")
        try expectOneLineError(["boot", "--kernel", guest, "--share", "/tmp:a", "--share", "/:a"], mentioning: "used twice")
    }

    @Test func directoryAsKernel() throws {
        try expectOneLineError(["boot", "--kernel", "/tmp"], mentioning: "not a regular file")
    }

    @Test func commandLineTooLong() throws {
        let guest = try KilnProcess.guest("hello.elf")
        try expectOneLineError(["boot", "--kernel", guest, "--cmdline", String(repeating: "x", count: 70000)],
                               mentioning: "command line")
    }

    @Test func helpDescribesBoot() throws {
        let result = try KilnProcess.run(["boot", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("--kernel"))
        #expect(result.stdout.contains("--cpus"))
    }
}
