import Foundation
import Glibc
import Testing

/// SIGKILL at random points of `kiln run`, of its VMM and of a `kiln boot` serving the API, on
/// this machine's /dev/kvm. The counter guest stands in for the sandbox kernel: it never answers
/// the agent, so `kiln run` stays in its start-up (run directory made, VMM started, waiting for
/// the agent) while the kill lands. Afterwards nothing of the run may outlive `kiln gc`: no
/// process, run directory, jail, socket or temporary file.
@Suite(.serialized) struct KilledRunTests {
    static let rounds = 8

    func runArguments(_ scratch: FaultScratch, jailed: Bool = false) throws -> [String] {
        let rootfs = scratch.files + "/rootfs.img"
        if !FileManager.default.fileExists(atPath: rootfs) {
            FileManager.default.createFile(atPath: rootfs, contents: Data(count: 1 << 20))
        }
        return ["run"] + (jailed ? [] : ["--no-jail"]) + ["--kernel", try KilnProcess.guest("counter.elf"), "--rootfs", rootfs,
                "--memory", "64", "--", "true"]
    }

    /// The static release kiln with kiln-jailer beside it (scripts/test.sh builds both before
    /// `swift test`), which `kiln run` as root starts its VMM through.
    static func jailingKiln() throws -> String {
        let root = KilnProcess.packageRoot.path
        let kiln = ProcessInfo.processInfo.environment["KILN_STATIC_BIN"] ?? root + "/.build/release/kiln"
        let jailer = URL(fileURLWithPath: kiln).deletingLastPathComponent().appendingPathComponent("kiln-jailer").path
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: kiln), FileManager.default.isExecutableFile(atPath: jailer) else {
            throw KilnTestError("a jailed kiln run needs root and the static release build (\(kiln) and \(jailer)): "
                                + "swift build -c release --static-swift-stdlib -Xswiftc -static-executable")
        }
        return kiln
    }

    /// The direct children of `pid` (the VMM, or the jailer about to become it).
    static func children(of pid: pid_t) -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { pid_t($0) }
        }
    }

    /// Whether `pid` still runs (a zombie has ended).
    static func running(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[close...].hasPrefix(") Z")
    }

    /// The VMM `kiln run` started (its child running `kiln boot`), waited for up to `seconds`.
    func vmm(of run: pid_t, seconds: Double = 20) -> pid_t? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            for child in Self.children(of: run) {
                let cmdline = (try? String(contentsOfFile: "/proc/\(child)/cmdline", encoding: .utf8)) ?? ""
                if cmdline.contains("\0boot\0") { return child }
            }
            usleep(5_000)
        }
        return nil
    }

    /// The answer to a request once the socket accepts it (within 10 s); nil if it never did.
    static func answer(_ socket: String, _ method: String, _ path: String) throws -> (status: Int, body: String)? {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let answer = try? APISocketClient.send(socket, method, path) { return answer }
            usleep(20_000)
        }
        return nil
    }

    /// Unjailed (the debug build) and jailed (the static release build through kiln-jailer: a
    /// jail directory, bind mounts and a pid namespace to leave behind).
    @Test(arguments: [false, true])
    func sigkillOfKilnRunAtRandomPointsLeavesNothingAfterGc(jailed: Bool) throws {
        let scratch = try FaultScratch(jailed ? "jail" : "run")
        let arguments = try runArguments(scratch, jailed: jailed)
        let executable = jailed ? try Self.jailingKiln() : KilnProcess.binary
        var kills: [String] = []
        for round in 0..<Self.rounds {
            let run = try BackgroundKiln(arguments, directory: scratch.files, name: "run\(round)", environment: scratch.environment,
                                         executable: executable)
            // Even rounds: anywhere in the first 300 ms (arguments, stale runs, run directory,
            // starting the VMM). Odd rounds: up to 500 ms after the VMM exists (waiting for the agent).
            let late = round % 2 == 1
            if late, vmm(of: run.process.processIdentifier) == nil {
                Issue.record("round \(round): no VMM appeared: \(run.errors)")
            }
            let delay = Int.random(in: late ? 0...500 : 0...300)
            kills.append("\(late ? "VMM+" : "")\(delay) ms")
            usleep(UInt32(delay) * 1000)
            // A jailed VMM's command line names only paths inside its jail: find it as the child.
            let children = Self.children(of: run.process.processIdentifier)
            kill(run.process.processIdentifier, SIGKILL)
            run.process.waitUntilExit()
            let survivors = scratch.processesAfterWaiting()
            #expect(survivors.isEmpty, "round \(round), killed at \(kills.last!): \(survivors) outlived kiln run")
            let deadline = Date().addingTimeInterval(5)
            while children.contains(where: Self.running) && Date() < deadline { usleep(20_000) }
            #expect(!children.contains(where: Self.running), "round \(round), killed at \(kills.last!): child \(children) outlived kiln run")
        }
        // The last round killed a run that had its directory: something for gc to remove.
        let before = scratch.leftovers()
        #expect(!before.isEmpty, "the killed runs left nothing: the test proves nothing (kills at \(kills))")
        if jailed {
            #expect(before.contains { FileManager.default.fileExists(atPath: "\(scratch.path)/\($0)/jail") },
                    "the last run had no jail: \(before)")
        }
        let gc = try scratch.gc()
        #expect(gc.status == 0 && gc.stdout.contains("removed \(scratch.tmp)/kiln-run."), "\(gc)")
        #expect(scratch.leftovers().isEmpty, "after kiln gc (kills at \(kills)): \(scratch.leftovers())")
        #expect(scratch.processes().isEmpty)
    }

    @Test func sigkillOfTheVMMEndsKilnRunWithAnErrorAndNothingLeft() throws {
        let scratch = try FaultScratch("vmm")
        let arguments = try runArguments(scratch)
        for round in 0..<4 {
            let run = try BackgroundKiln(arguments, directory: scratch.files, name: "run\(round)", environment: scratch.environment)
            guard let vmm = vmm(of: run.process.processIdentifier) else {
                Issue.record("round \(round): no VMM appeared: \(run.errors)")
                continue
            }
            let delay = Int.random(in: 0...500)
            usleep(UInt32(delay) * 1000)
            kill(vmm, SIGKILL)
            let deadline = Date().addingTimeInterval(30)
            while run.process.isRunning && Date() < deadline { usleep(20_000) }
            #expect(!run.process.isRunning, "round \(round): kiln run did not end within 30 s of its VMM's SIGKILL")
            run.kill()
            let errors = run.errors.split(separator: "\n")
            #expect(run.process.terminationReason == .exit && run.process.terminationStatus == 125,
                    "round \(round), VMM killed after \(delay) ms: status \(run.process.terminationStatus), stderr: \(run.errors)")
            // The error first; then, as for every failed start, the ends of the VMM's log and console.
            #expect(errors.first == "kiln: error: the VMM ended (killed by signal 9) before the agent answered",
                    "round \(round), VMM killed after \(delay) ms: \(errors.prefix(3))")
            #expect(scratch.processesAfterWaiting().isEmpty)
            #expect(scratch.leftovers().isEmpty, "round \(round): kiln run left \(scratch.leftovers())")
        }
        let gc = try scratch.gc()
        #expect(gc.status == 0 && gc.stdout.isEmpty, "\(gc)")
    }

    /// A `kiln boot` serving the API killed at random points leaves its socket file (the path is
    /// the caller's); the next `kiln boot` on that path replaces the stale socket and serves.
    @Test func aVMMKilledAtRandomPointsLeavesASocketTheNextBootReplaces() throws {
        let scratch = try FaultScratch("api")
        let socket = scratch.files + "/api.sock"
        let guest = try KilnProcess.guest("counter.elf")
        let arguments = ["boot", "--kernel", guest, "--memory", "64", "--no-stdin", "--control-sock", socket]
        for round in 0...Self.rounds {
            let kiln = try BackgroundKiln(arguments, directory: scratch.files, name: "boot\(round)")
            // Round 0 has no socket file until kiln binds; later rounds find the stale one, then
            // none (kiln removed it), then kiln's: connections fail until kiln listens.
            let answer = try Self.answer(socket, "GET", "/machine-config")
            #expect(answer?.status == 200, "round \(round): \(String(describing: answer)) \(kiln.errors)")
            if round == Self.rounds { kiln.kill(); break }
            let delay = Int.random(in: 0...300)
            usleep(UInt32(delay) * 1000)
            kill(kiln.process.processIdentifier, SIGKILL)
            kiln.process.waitUntilExit()
        }
        #expect(scratch.processesAfterWaiting().isEmpty)
    }
}
