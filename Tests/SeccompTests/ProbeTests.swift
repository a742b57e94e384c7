import ChildProcessSupport
import Foundation
import Testing

/// Runs `seccomp-probe` (built next to this test bundle), which confines one thread with a role's
/// filter. The filter must let the role's ordinary calls through and kill the whole process with
/// SIGSYS at the first call outside it.
@Suite(.serialized) struct ProbeTests {
    static let roles = ["control", "devices", "vcpu", "api"]
    static let forbidden = [
        "socket", "socket-unix", "execve", "ptrace", "openat", "openat-create", "kvm-create-vm", "ioctl-tcgets", "clone",
        "mmap-exec", "mprotect-exec", "mmap-file", "tgkill-sigterm", "futex-requeue", "x32-write",
        "io_uring_setup", "io_uring_register",
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

    /// install() runs on every thread's start-up path (it loads the role's compiled program).
    /// The probe times 50 installs and reports the median; how fast that is belongs to the
    /// start-up benchmark (Benchmarks/boot-core.py), not to a test a loaded machine can fail.
    @Test(arguments: roles)
    func installIsRepeatableAndTimed(role: String) throws {
        let result = try ProbeProcess.run([role, "time", "50"])
        #expect(result.reason == .exit && result.status == 0, "\(result)")
        let median = result.stdout.split(separator: " ").firstIndex(of: "median").map {
            Double(result.stdout.split(separator: " ")[$0 + 1]) ?? .infinity
        } ?? .infinity
        #expect(median.isFinite && median > 0, "\(result.stdout)")
        print("seccomp install (\(role)): median \(median) us")
    }
}

/// Locates and runs `seccomp-probe`.
enum ProbeProcess {
    typealias Result = ChildProcessResult

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
        try ChildProcess.run(executable, arguments, timeout: timeout)
    }
}

struct ProbeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
