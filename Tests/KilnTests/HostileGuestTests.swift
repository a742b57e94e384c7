import Foundation
import Testing

/// Hostile guests on /dev/kvm: Tests/Guests/hostile.elf attacks one virtio device from ring 3
/// (descriptor loops, addresses out of RAM or wrapping, huge lengths, bad indirect tables,
/// available-index jumps, rings out of RAM or overlapping, bad queue sizes, every register in
/// every device state, config space at every offset and width, notification storms, resets
/// racing requests), and after each attack checks that the device works again after a reset
/// and that another device kept working. Here the host checks what the guest cannot: kiln is
/// alive and unharmed afterwards, guest RAM lies between guard mappings (so an access the VMM
/// made outside it would have killed it), and once the VM is paused no kiln thread uses CPU.
@Suite(.serialized) struct HostileGuestTests {
    enum Device: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case blk, rng, net, vsock, fs
        var testDescription: String { rawValue }
    }

    /// QueueNotify writes per storm. Each is an ioeventfd exit from ring 3, 43-137 us on this
    /// machine's software /dev/kvm under load, so a million takes 1.5 minutes per device (run
    /// by hand, docs/hardening.md); the storm itself is the same at any count.
    static let stormNotifies = 20000
    static let memoryMiB = 64

    /// What the guest must have reported for an attack: `error` is the spec's answer to a
    /// broken request (DEVICE_NEEDS_RESET, or the chain returned with nothing written);
    /// `refused` a queue set-up the device must not take (NEEDS_RESET at DRIVER_OK); `served`
    /// a request that is valid despite the attack and must be answered; `survived` only asks
    /// for recovery and the other device; `stillNeedsReset` a device left needing reset.
    enum Expectation { case error, refused, served, survived, stillNeedsReset }

    static let attacks: [(name: String, expect: Expectation)] = [
        ("loop", .error), ("selfloop", .error), ("next_oob", .error), ("head_oob", .error),
        ("beyond_ram", .error), ("mmio_hole", .error), ("wrap", .error), ("straddle", .error),
        ("huge_len", .error), ("zero_len", .survived),
        ("indirect_nested", .error), ("indirect_badlen", .error), ("indirect_zero", .error),
        ("indirect_huge", .error), ("indirect_loop", .error), ("indirect_next_oob", .error),
        ("indirect_beyond_ram", .error), ("indirect_and_next", .error),
        ("avail_jump", .error), ("avail_max", .error), ("same_head", .survived),
        ("rings_beyond_ram", .refused), ("rings_wrap", .refused), ("rings_mmio", .refused),
        ("rings_straddle", .refused), ("rings_overlap", .survived), ("rings_misaligned", .refused),
        ("qsize_bad", .served), ("registers", .survived), ("config", .survived),
        ("notify_storm", .served), ("notify_bad_queue", .served), ("storm_needs_reset", .stillNeedsReset),
        ("reset_race", .survived),
    ]

    /// Files and sockets the devices need, removed at deinit.
    final class Backing {
        let directory: String
        init() throws {
            directory = NSTemporaryDirectory() + "kiln-hostile-\(getpid())"
            try FileManager.default.createDirectory(atPath: directory + "/share", withIntermediateDirectories: true)
            try Data(repeating: 0x4b, count: 1 << 20).write(to: URL(fileURLWithPath: directory + "/disk.img"))
            try Data("shared\n".utf8).write(to: URL(fileURLWithPath: directory + "/share/file"))
        }
        deinit { try? FileManager.default.removeItem(atPath: directory) }

        /// Not persistent: the TAP goes with kiln's descriptor.
        var tapName: String { "khostile\(getpid() % 100_000)" }
        var vsockPath: String { directory + "/vsock.sock" }
        var controlSocket: String { directory + "/control.sock" }

        func arguments(for device: Device) -> [String] {
            let common = ["--memory", "\(HostileGuestTests.memoryMiB)",
                          "--drive", directory + "/disk.img", "--entropy"]
            switch device {
            case .blk, .rng: return common
            case .net: return common + ["--net", tapName]
            case .vsock: return common + ["--vsock", "3,\(vsockPath)"]
            case .fs: return common + ["--share", "\(directory)/share:hostile"]
            }
        }
    }

    /// kiln's threads' CPU time in clock ticks (utime + stime, /proc/PID/task/TID/stat), by
    /// "name tid".
    static func threadTicks(of pid: Int32) throws -> [String: Int] {
        let tasks = "/proc/\(pid)/task"
        var ticks: [String: Int] = [:]
        for tid in try FileManager.default.contentsOfDirectory(atPath: tasks) {
            guard let stat = try? String(contentsOfFile: "\(tasks)/\(tid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let name = stat[stat.index(after: stat.firstIndex(of: "(")!)..<close]
            // After "(comm)": state is field 3, utime 14 and stime 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { continue }
            ticks["\(name) \(tid)"] = user + system
        }
        return ticks
    }

    /// (start, end, permissions) of every mapping of `pid`.
    static func mappings(of pid: Int32) throws -> [(start: UInt64, end: UInt64, permissions: String)] {
        try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            let range = fields.first?.split(separator: "-") ?? []
            guard fields.count >= 2, range.count == 2, let start = UInt64(range[0], radix: 16),
                  let end = UInt64(range[1], radix: 16) else { return nil }
            return (start, end, String(fields[1]))
        }
    }

    /// Guest RAM (the one run of read-write mappings of exactly its size) has inaccessible mappings of
    /// at least `guard` bytes on both sides.
    static func expectGuardedRAM(of pid: Int32) throws {
        let maps = try mappings(of: pid).sorted { $0.start < $1.start }
        let size = UInt64(memoryMiB) << 20, guardBytes: UInt64 = 2 << 20
        // Guest RAM is two VMAs (its first 2 MiB is not MADV_HUGEPAGE), so contiguous
        // read-write mappings are joined first.
        var runs: [(start: UInt64, end: UInt64)] = []
        for mapping in maps where mapping.permissions == "rw-p" {
            if let last = runs.last, last.end == mapping.start {
                runs[runs.count - 1].end = mapping.end
            } else {
                runs.append((mapping.start, mapping.end))
            }
        }
        let ram = runs.filter { $0.end - $0.start == size }
        // Unguarded, guest RAM may merge with a neighbouring mapping and not be found at all.
        guard ram.count == 1 else {
            Issue.record("expected guest RAM as one \(memoryMiB) MiB read-write mapping between guards: \(maps)")
            return
        }
        func covered(_ start: UInt64, _ end: UInt64) -> Bool {
            var next = start
            for mapping in maps where mapping.end > next && mapping.start <= next {
                guard mapping.permissions == "---p" else { return false }
                next = mapping.end
                if next >= end { return true }
            }
            return false
        }
        #expect(covered(ram[0].start - guardBytes, ram[0].start), "no guard below guest RAM: \(maps)")
        #expect(covered(ram[0].end, ram[0].end + guardBytes), "no guard above guest RAM: \(maps)")
    }

    /// The guest's lines from "ATTACK name" up to the next ATTACK or SURVIVED, by name.
    static func attackReports(_ output: String) -> [String: [String]] {
        var reports: [String: [String]] = [:]
        var current: String?
        for line in output.split(separator: "\n").map(String.init) {
            if line.hasPrefix("ATTACK ") {
                current = String(line.dropFirst("ATTACK ".count))
                reports[current!] = []
            } else if line == "SURVIVED" {
                current = nil
            } else if let name = current {
                reports[name]!.append(line)
            }
        }
        return reports
    }

    /// Whether an attack's RESULT lines meet its expectation on `device`.
    static func meets(_ expectation: Expectation, _ lines: [String], device: Device) -> Bool {
        let results = lines.filter { $0.hasPrefix("RESULT ") }
        guard let result = results.first else { return false }
        let needsReset = result.contains("status 0x4") || result.contains("status 0xc")
        switch expectation {
        case .survived:
            return !result.contains("start_failed")
        case .stillNeedsReset:
            return needsReset
        case .refused:
            return result.hasPrefix("RESULT setup") && needsReset
        case .error:
            if result.hasPrefix("RESULT needs_reset") { return true }
            // Returned untouched: nothing written, and a block request not marked done.
            guard result.hasPrefix("RESULT used ") && result.contains(" len 0 ") else { return false }
            return device != .blk || !result.contains("blk 0x0 ")
        case .served:
            guard result.hasPrefix("RESULT used id 0 ") && !needsReset else { return false }
            switch device {
            case .blk: return result.contains(" len 513 blk 0x0 ")
            case .rng: return result.contains(" len 64 ")
            case .fs: return !result.contains(" len 0 ")
            case .net, .vsock: return true
            }
        }
    }

    /// With the VM paused, and host traffic waiting that the guest will never take, every kiln
    /// thread's CPU time over 1 s. Returns the busiest thread and its ticks.
    static func expectQuietWhilePaused(pid: Int32, device: Device, backing: Backing,
                                       phase: String) throws -> (thread: String, ticks: Int) {
        let paused = try APISocketClient.send(backing.controlSocket, "PATCH", "/vm", #"{"state": "Paused"}"#)
        try #require(paused.status == 204, "pause: \(paused)")
        var vsockClient: Int32 = -1
        defer { if vsockClient >= 0 { close(vsockClient) } }
        switch device {
        case .net: try HostileGuestTraffic.sendFrames(toTAP: backing.tapName, count: 200)
        case .vsock: vsockClient = try HostileGuestTraffic.connectVsock(backing.vsockPath)
        case .blk, .rng, .fs: break
        }
        Thread.sleep(forTimeInterval: 0.2)
        let used = try ticksOverOneSecond(of: pid)
        for (thread, ticks) in used {
            // A spinning thread uses ~100. The vCPU, device and drive threads have nothing to do at
            // all; kiln's main thread has just answered the pause (up to 2 ticks seen here).
            let limit = thread.hasPrefix("kiln_vcpu") || thread.hasPrefix("kiln_devices") || thread.hasPrefix("kiln_drive") ? 1 : 5
            #expect(ticks <= limit, "\(phase): thread \(thread) used \(ticks) ticks in 1 s of a paused VM")
        }
        return busiest(used)
    }

    /// Ticks each thread of `pid` used over the next second.
    static func ticksOverOneSecond(of pid: Int32) throws -> [String: Int] {
        let before = try threadTicks(of: pid)
        Thread.sleep(forTimeInterval: 1.0)
        return try threadTicks(of: pid).reduce(into: [:]) { used, entry in
            used[entry.key] = entry.value - (before[entry.key] ?? 0)
        }
    }

    static func busiest(_ used: [String: Int]) -> (thread: String, ticks: Int) {
        used.max { $0.value < $1.value }.map { ($0.key, $0.value) } ?? ("none", 0)
    }

    static func busiestThread(of pid: Int32) throws -> (thread: String, ticks: Int) {
        busiest(try ticksOverOneSecond(of: pid))
    }

    @Test(arguments: Device.allCases)
    func kilnSurvivesEveryAttack(device: Device) throws {
        try #require(getuid() == 0 || device != .net, "the net device needs root to create its TAP")
        let backing = try Backing()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: KilnProcess.binary)
        process.arguments = ["boot", "--kernel", try KilnProcess.guest("hostile.elf"),
                             "--cmdline", "dev=\(device.rawValue) storm=\(Self.stormNotifies) ram_mib=\(Self.memoryMiB)",
                             "--control-sock", backing.controlSocket]
            + backing.arguments(for: device)
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        // A guest or kiln that hangs is killed, which ends the reads below.
        let watchdog = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 300, execute: watchdog)
        defer {
            watchdog.cancel()
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        var seen = Data()
        func readUntil(_ marker: String) throws -> String {
            while !String(decoding: seen, as: UTF8.self).contains(marker) {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen.append(chunk)
            }
            let output = String(decoding: seen, as: UTF8.self)
            try #require(output.contains(marker) && process.isRunning,
                         "guest did not print \(marker) with kiln alive: \(output)")
            return output
        }

        // Ring 3 cannot halt on this /dev/kvm (Tests/Guests/ring3.h), so the guest waits in a
        // loop and the VM is paused: then no kiln thread may use CPU, with every device
        // working and then with the attacked one needing reset (a tick is 10 ms).
        let pid = process.processIdentifier
        let output = try readUntil("\nWAITING ready\n")
        // The control: running, the guest's wait loop keeps its vCPU thread busy, and the
        // same sampling must see it.
        let running = try Self.busiestThread(of: pid)
        #expect(running.thread.contains("kiln_vcpu") && running.ticks >= 5,
                "sampling a running VM should show a busy vCPU thread, saw \(running)")
        let healthy = try Self.expectQuietWhilePaused(pid: pid, device: device, backing: backing, phase: "healthy")
        let resumed = try APISocketClient.send(backing.controlSocket, "PATCH", "/vm", #"{"state": "Resumed"}"#)
        try #require(resumed.status == 204, "resume: \(resumed)")
        input.fileHandleForWriting.write(Data("x".utf8))
        let final = try readUntil("\nWAITING needs_reset\n")
        #expect(final.split(separator: "\n").contains { $0.hasPrefix("RESULT final") && $0.contains("status 0x4f") },
                "the attacked device should need reset: \(final)")
        let broken = try Self.expectQuietWhilePaused(pid: pid, device: device, backing: backing, phase: "needs reset")
        // For docs/hardening.md: what the guest measured and the busiest thread while paused.
        let storms = output.split(separator: "\n").filter { $0.hasPrefix("STORM ") }
        print("hostile \(device): \(storms.joined(separator: "; ")); 1 s running: \(running.thread) \(running.ticks) ticks; paused 1 s, busiest thread: healthy \(healthy.thread) \(healthy.ticks) ticks, needing reset \(broken.thread) \(broken.ticks) ticks")
        try Self.expectGuardedRAM(of: pid)
        try #require(process.isRunning, "kiln ended while paused")

        process.terminate()
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // Our SIGTERM, nothing else (a crash would be SIGSEGV, SIGBUS, SIGILL or SIGTRAP).
        #expect(process.terminationReason == .exit || process.terminationStatus == SIGTERM,
                "kiln ended by signal \(process.terminationStatus): \(stderr)")

        let reports = Self.attackReports(output)
        for (name, expectation) in Self.attacks {
            let lines = reports[name] ?? []
            #expect(!lines.isEmpty, "attack \(name) did not run: \(output)")
            #expect(Self.meets(expectation, lines, device: device),
                    "\(device) \(name): expected \(expectation), got \(lines)")
            #expect(lines.contains("RECOVER ok"), "\(device) \(name): no recovery after reset: \(lines)")
            #expect(lines.contains("OTHER ok"), "\(device) \(name): the other device failed: \(lines)")
        }
        #expect(Set(reports.keys) == Set(Self.attacks.map(\.name)), "guest and test disagree on the attacks")
    }
}
