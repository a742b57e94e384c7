import Foundation
import Testing

/// Long-lived sandbox commands without a VM: name checks, the state directory, `kiln ls`,
/// `kiln rm` and `kiln gc` on recorded sandboxes whose VMM is dead or alive.
@Suite(.serialized) final class SandboxCLITests {
    let store: String
    let env: [String: String]

    init() throws {
        store = NSTemporaryDirectory() + "kiln-sandbox-tests-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        env = ["KILN_SANDBOX_DIR": store]
    }

    deinit { try? FileManager.default.removeItem(atPath: store) }

    func kiln(_ arguments: [String]) throws -> KilnProcess.Result {
        try KilnProcess.run(arguments, environment: env)
    }

    /// create, exec and cp exit 125 on their own failures, as kiln run does; rm, ls, gc 1.
    func expectOneLineError(_ arguments: [String], mentioning needle: String) throws {
        let result = try kiln(arguments)
        let status: Int32 = ["create", "exec", "cp"].contains(arguments[0]) ? 125 : 1
        #expect(result.status == status, "\(arguments): exit \(result.status)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.split(separator: "\n").count == 1, "expected one line, got: \(result.stderr)")
        #expect(result.stderr.contains(needle), "\(result.stderr)")
    }

    /// A pid that has just exited (and been reaped), so no process has it.
    func deadPid() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    /// This test process's identity as /proc/self/stat gives it (pid and start time).
    func ownIdentity() throws -> String {
        let stat = try String(contentsOfFile: "/proc/self/stat", encoding: .utf8)
        let fields = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ")
        return "\(getpid()) \(fields[19])\n"
    }

    func fakeSandbox(_ name: String, vmm: String?, created: Int = Int(Date().timeIntervalSince1970) - 300) throws {
        let dir = "\(store)/\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        if let vmm { try vmm.write(toFile: "\(dir)/vmm", atomically: true, encoding: .utf8) }
        try "\(created)\n".write(toFile: "\(dir)/created", atomically: true, encoding: .utf8)
        try "stale".write(toFile: "\(dir)/vsock.sock", atomically: true, encoding: .utf8)
    }

    @Test func badNames() throws {
        let images = ["--kernel", "/proc/self/exe", "--rootfs", "/proc/self/exe"]
        try expectOneLineError(["create", "--name", "bad/name"] + images, mentioning: "--name bad/name")
        try expectOneLineError(["create", "--name", "a_b"] + images, mentioning: "letters, digits")
        try expectOneLineError(["create", "--name", String(repeating: "x", count: 65)] + images, mentioning: "1 to 64")
        try expectOneLineError(["create", "--name", ""] + images, mentioning: "1 to 64")
        try expectOneLineError(["exec", "..", "--", "true"], mentioning: "sandbox name '..'")
        try expectOneLineError(["rm", "a.b"], mentioning: "sandbox name 'a.b'")
    }

    @Test func argumentErrors() throws {
        let images = ["--kernel", "/proc/self/exe", "--rootfs", "/proc/self/exe"]
        try expectOneLineError(["create", "--name", "ok", "--cpus", "0"] + images, mentioning: "--cpus 0")
        try expectOneLineError(["create", "--name", "ok", "--kernel", "/nonexistent/vmlinux", "--rootfs", "/proc/self/exe"],
                               mentioning: "/nonexistent/vmlinux")
        try expectOneLineError(["exec", "ok"], mentioning: "no command")
        try expectOneLineError(["exec", "ok", "--timeout", "0", "--", "true"], mentioning: "--timeout")
        try expectOneLineError(["exec", "ok", "--workdir", "rel", "--", "true"], mentioning: "--workdir rel")
        try expectOneLineError(["cp", "/etc/hostname", "/tmp/x"], mentioning: "neither")
        try expectOneLineError(["cp", "a:/x", "b:/y"], mentioning: "both")
        try expectOneLineError(["cp", "/etc/hostname", "ok:relative"], mentioning: "absolute")
        try expectOneLineError(["cp", "/nonexistent-kiln", "ok:/x"], mentioning: "/nonexistent-kiln")
        try expectOneLineError(["rm"], mentioning: "no sandbox named")
        // Nothing was recorded by any of these.
        #expect(try FileManager.default.contentsOfDirectory(atPath: store).isEmpty)
    }

    @Test func unknownAndDuplicateNames() throws {
        try expectOneLineError(["exec", "missing", "--", "true"], mentioning: "no sandbox named missing")
        try expectOneLineError(["cp", "/etc/hostname", "missing:/x"], mentioning: "no sandbox named missing")
        try expectOneLineError(["rm", "missing"], mentioning: "no sandbox named missing")
        try fakeSandbox("taken", vmm: try ownIdentity())
        try expectOneLineError(["create", "--name", "taken", "--kernel", "/proc/self/exe", "--rootfs", "/proc/self/exe"],
                               mentioning: "sandbox taken already exists (alive)")
        try fakeSandbox("gone", vmm: "\(try deadPid()) 1\n")
        try expectOneLineError(["exec", "gone", "--", "true"], mentioning: "sandbox gone is dead")
    }

    @Test func listShowsStateAndAge() throws {
        try fakeSandbox("live-one", vmm: try ownIdentity())
        try fakeSandbox("dead-one", vmm: "\(try deadPid()) 1\n")
        // Same pid, other start time: a reused pid is not the sandbox's VMM.
        try fakeSandbox("reused", vmm: "\(getpid()) 1\n")
        let result = try kiln(["ls"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = result.lines.filter { !$0.isEmpty }.map { $0.split(separator: " ").map(String.init) }
        #expect(rows.first == ["NAME", "PID", "STATE", "AGE"])
        #expect(rows.contains(["live-one", "\(getpid())", "alive", "5m"]), "\(result.stdout)")
        #expect(rows.contains { $0.first == "dead-one" && $0[2] == "dead" }, "\(result.stdout)")
        #expect(rows.contains { $0.first == "reused" && $0[2] == "dead" }, "\(result.stdout)")
    }

    @Test func gcRemovesOnlyDeadEntries() throws {
        try fakeSandbox("keep", vmm: try ownIdentity())
        try fakeSandbox("dead", vmm: "\(try deadPid()) 1\n")
        try fakeSandbox("never-recorded", vmm: nil)   // creator died before the VMM was recorded
        // Run directories are looked for in $TMPDIR; kiln made them 0700.
        let deadRun = "\(store)/kiln-run.\(try deadPid()).gctest"
        let liveRun = "\(store)/kiln-run.\(getpid()).gctest"
        for dir in [deadRun, liveRun] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
            try "x".write(toFile: "\(dir)/vsock.sock", atomically: true, encoding: .utf8)
        }
        defer { try? FileManager.default.removeItem(atPath: liveRun) }
        let result = try KilnProcess.run(["gc", "--oci-root", store + "/oci"],
                                         environment: env.merging(["TMPDIR": store, "KILN_IMAGE_STORE": store + "/images"]) { $1 })
        #expect(result.status == 0, "\(result.stderr)")
        let fm = FileManager.default
        #expect(!fm.fileExists(atPath: "\(store)/dead"))
        #expect(!fm.fileExists(atPath: "\(store)/never-recorded"))
        #expect(!fm.fileExists(atPath: deadRun))
        #expect(fm.fileExists(atPath: "\(store)/keep/vmm"))
        #expect(fm.fileExists(atPath: "\(liveRun)/vsock.sock"))
        #expect(result.stdout.contains("removed \(store)/dead") && result.stdout.contains("removed \(deadRun)"), "\(result.stdout)")
    }

    @Test func rmRemovesDeadSandboxState() throws {
        try fakeSandbox("dead", vmm: "\(try deadPid()) 1\n")
        let result = try kiln(["rm", "dead"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(store)/dead"))
    }

    @Test func rmKillsAVMMThatDoesNotAnswer() throws {
        // A stand-in "VMM" with no agent socket: rm's power-off fails, the grace ends, SIGKILL.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["60"]
        try sleeper.run()
        let stat = try String(contentsOfFile: "/proc/\(sleeper.processIdentifier)/stat", encoding: .utf8)
        let fields = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ")
        try fakeSandbox("mute", vmm: "\(sleeper.processIdentifier) \(fields[19])\n")
        let result = try kiln(["rm", "--grace", "0.2", "mute"])
        sleeper.waitUntilExit()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(sleeper.terminationReason == .uncaughtSignal && sleeper.terminationStatus == SIGKILL)
        #expect(!FileManager.default.fileExists(atPath: "\(store)/mute"))
    }
}
