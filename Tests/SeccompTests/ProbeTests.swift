import Foundation
import Testing

/// Runs `seccomp-probe` (built next to this test bundle), which confines one thread with a role's
/// filter. The filter must let the role's ordinary calls through and kill the whole process with
/// SIGSYS at the first call outside it.
@Suite(.serialized) struct ProbeTests {
    static let roles = ["control", "devices", "vcpu", "api"]
    static let forbidden = [
        "socket", "socket-unix", "execve", "ptrace", "openat", "kvm-create-vm", "ioctl-tcgets", "clone",
        "mmap-exec", "mprotect-exec", "mmap-file", "tgkill-sigterm", "futex-requeue", "x32-write",
    ]

    @Test(arguments: roles)
    func allowedCallsPassAndOnlyTheCallingThreadIsFiltered(role: String) throws {
        let result = try ProbeProcess.run([role, "allowed"])
        #expect(result.reason == .exit && result.status == 0, "\(result)")
        #expect(result.stdout.contains("filtered thread Seccomp: 2\n"), "\(result)")
        #expect(result.stdout.contains("observer thread Seccomp: 0\n"), "\(result)") // no TSYNC
        #expect(result.stdout.contains("allowed calls passed\n"), "\(result)")
        #expect(result.stdout.contains("lock count 4\n"), "\(result)") // contended Mutex worked
    }

    @Test(arguments: roles, forbidden)
    func forbiddenCallKillsTheProcessWithSIGSYS(role: String, call: String) throws {
        let result = try ProbeProcess.run([role, call])
        // It got as far as the forbidden call, after the allowed ones ...
        #expect(result.stdout.contains("allowed calls passed\ncalling \(call)\n"), "\(result)")
        // ... and died there.
        #expect(result.reason == .uncaughtSignal && result.status == SIGSYS, "\(result)")
        #expect(!result.stdout.contains("survived"), "\(result)")
    }

    /// install() runs on every thread's start-up path; libseccomp compiles the filter each time.
    @Test(arguments: roles)
    func installTakesWellUnderAMillisecond(role: String) throws {
        let result = try ProbeProcess.run([role, "time", "50"])
        #expect(result.reason == .exit && result.status == 0, "\(result)")
        let median = result.stdout.split(separator: " ").firstIndex(of: "median").map {
            Double(result.stdout.split(separator: " ")[$0 + 1]) ?? .infinity
        } ?? .infinity
        #expect(median < 1000, "\(result.stdout)")
    }
}

/// Locates and runs `seccomp-probe`.
enum ProbeProcess {
    struct Result: CustomStringConvertible {
        let reason: Process.TerminationReason
        let status: Int32
        let stdout: String
        let stderr: String
        var description: String {
            "\(reason == .exit ? "exit" : "signal") \(status); stdout: \(stdout); stderr: \(stderr)"
        }
    }

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["SECCOMP_PROBE_BIN"] { return path }
        // .build/<triple>/<config>/KilnPackageTests.xctest -> .build/<triple>/<config>/seccomp-probe
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("seccomp-probe").path
    }

    static func run(_ arguments: [String]) throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ProbeError("seccomp-probe not found at \(binary); build it with `swift build` first")
        }
        return try execute(binary, arguments)
    }

    static func execute(_ executable: String, _ arguments: [String], timeout: TimeInterval = 30) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw ProbeError("\(executable) \(arguments.joined(separator: " ")) timed out after \(timeout) s")
        }
        process.waitUntilExit()
        return Result(reason: process.terminationReason, status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }
}

struct ProbeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
