import Foundation
import Testing

/// A running VM's threads, read from outside through /proc, as an operator would check them.
@Suite(.serialized) struct SeccompConfinementTests {
    /// Starts kiln on idle.elf (which stays up), waits for the guest's "IDLE", runs `body` with
    /// kiln's pid, then kills it.
    func withRunningVM(_ extra: [String], _ body: (Int32) throws -> Void) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: KilnProcess.binary)
        process.arguments = ["boot", "--kernel", try KilnProcess.guest("idle.elf")] + extra
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = Pipe() // stays open: the console input path is live too
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        var seen = Data()
        let deadline = Date().addingTimeInterval(20)
        while !String(decoding: seen, as: UTF8.self).contains("IDLE") {
            guard Date() < deadline else { throw KilnTestError("guest did not print IDLE: \(String(decoding: seen, as: UTF8.self))") }
            seen.append(out.fileHandleForReading.availableData)
        }
        Thread.sleep(forTimeInterval: 0.3) // the main thread installs its filter after spawning
        try body(process.processIdentifier)
    }

    /// (thread name, Seccomp field) for every thread of `pid`.
    func threads(of pid: Int32) throws -> [(name: String, seccomp: String)] {
        let taskDirectory = "/proc/\(pid)/task"
        return try FileManager.default.contentsOfDirectory(atPath: taskDirectory).map { tid in
            let name = try String(contentsOfFile: "\(taskDirectory)/\(tid)/comm", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let status = try String(contentsOfFile: "\(taskDirectory)/\(tid)/status", encoding: .utf8)
            let field = status.split(separator: "\n").first { $0.hasPrefix("Seccomp:") }
            return (name, field.map { String($0.dropFirst("Seccomp:".count)).trimmingCharacters(in: .whitespaces) } ?? "?")
        }
    }

    /// Two drives, one per engine: each is served by a thread of its own (a disk that waits
    /// holds only its drive), confined like the others.
    @Test func everyKilnThreadRunsUnderItsFilter() throws {
        let disk = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-seccomp-\(getpid()).img").path
        #expect(FileManager.default.createFile(atPath: disk, contents: Data(count: 64 * 1024)))
        defer { try? FileManager.default.removeItem(atPath: disk) }
        try withRunningVM(["--cpus", "2", "--drive", disk, "--drive", "\(disk),ro,io=sync"]) { pid in
            let all = try threads(of: pid)
            // Kernel workers KVM starts in the process (kvm-nx-lpage-re...) are not kiln's.
            let kiln = all.filter { $0.name.hasPrefix("kiln") }
            let names = Set(kiln.map(\.name))
            #expect(names.isSuperset(of: ["kiln", "kiln_vcpu0", "kiln_vcpu1", "kiln_devices", "kiln_drive0", "kiln_drive1"]),
                    "\(all)")
            for thread in kiln {
                #expect(thread.seccomp == "2", "thread \(thread.name) has Seccomp: \(thread.seccomp)")
            }
        }
    }

    @Test func noSeccompLeavesThreadsUnfiltered() throws {
        try withRunningVM(["--no-seccomp"]) { pid in
            let kiln = try threads(of: pid).filter { $0.name.hasPrefix("kiln") }
            #expect(!kiln.isEmpty)
            for thread in kiln { #expect(thread.seccomp == "0", "thread \(thread.name)") }
        }
    }
}
