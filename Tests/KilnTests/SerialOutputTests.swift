import Foundation
import Testing

/// The guest console must cost output, never the VM: a reader that went away, or a cap on the
/// console file, drops bytes and kiln carries on to the guest's own ending.
@Suite(.serialized) struct SerialOutputTests {
    /// `kiln boot ... | head -c 0`: standard output is a pipe whose reader is already gone.
    @Test func closedStdoutPipeDoesNotKillKiln() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: KilnProcess.binary)
        process.arguments = ["boot", "--kernel", try KilnProcess.guest("hello.elf"), "--no-stdin"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try out.fileHandleForReading.close()
        try process.run()
        try out.fileHandleForWriting.close()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let message = String(decoding: stderr, as: UTF8.self)
        #expect(process.terminationReason == .exit, "killed by signal \(process.terminationStatus): \(message)")
        #expect(process.terminationStatus == 0, "\(message)")
        #expect(message.contains("kiln: VM ended"), "\(message)")
    }

    /// RLIMIT_FSIZE (as the jailer may set it) below what the guest prints: the file stops at
    /// the rlimit (EFBIG, not SIGXFSZ) and the guest still runs to its reset.
    @Test func fileSizeRlimitDoesNotKillKiln() throws {
        let prlimit = "/usr/bin/prlimit"
        try #require(FileManager.default.isExecutableFile(atPath: prlimit), "util-linux prlimit needed")
        let path = NSTemporaryDirectory() + "kiln-serial-fsize-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try KilnProcess.execute(prlimit, ["--fsize=10", KilnProcess.binary, "boot", "--kernel",
                                                       try KilnProcess.guest("hello.elf"), "--serial-output", path],
                                             timeout: 30)
        #expect(result.reason == .exit, "killed by signal \(result.status): \(result.stderr)")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "hello from")
    }

    /// hello.elf prints "hello from guest\n" (17 bytes); with a 5-byte cap the file holds the
    /// first 5 and the marker, and the guest still runs to its reset.
    @Test func serialOutputLimitCapsTheFile() throws {
        let path = NSTemporaryDirectory() + "kiln-serial-limit-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("hello.elf"),
                                          "--serial-output", path, "--serial-output-limit", "5"])
        #expect(result.status == 0, "\(result.stderr)")
        let expected = "hello\n[kiln: console output truncated after 5 bytes]\n"
        #expect(try String(contentsOfFile: path, encoding: .utf8) == expected)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == expected.utf8.count)
    }

    @Test func serialOutputLimitOnStdoutAndZeroMeansNone() throws {
        let hello = try KilnProcess.guest("hello.elf")
        let capped = try KilnProcess.run(["boot", "--kernel", hello, "--serial-output-limit", "1K"])
        #expect(capped.status == 0, "\(capped.stderr)")
        #expect(capped.stdout == "hello from guest\n")
        let tiny = try KilnProcess.run(["boot", "--kernel", hello, "--serial-output-limit", "16"])
        #expect(tiny.stdout == "hello from guest\n[kiln: console output truncated after 16 bytes]\n")
        let unlimited = try KilnProcess.run(["boot", "--kernel", hello, "--serial-output-limit", "0"])
        #expect(unlimited.stdout == "hello from guest\n")
    }

    @Test func malformedLimitIsRefused() throws {
        let result = try KilnProcess.run(["boot", "--kernel", try KilnProcess.guest("hello.elf"),
                                          "--serial-output-limit", "lots"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--serial-output-limit: 'lots' is not a byte count"), "\(result.stderr)")
    }
}
