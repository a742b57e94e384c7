import Foundation
import Testing

/// Snapshot through the API, kill, restore in a new kiln process: on this machine's /dev/kvm
/// with the counter guest (Tests/Guests/counter.c), whose count lives in registers, memory
/// and xmm0. A restored clone must print exactly the lines that follow the snapshot.
@Suite(.serialized) struct SnapshotRestoreTests {
    let directory = NSTemporaryDirectory() + "kiln-snapshot-\(UUID().uuidString)"
    var state: String { directory + "/vm.state" }
    var memory: String { directory + "/vm.mem" }

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Boots the counter through the API, lets it count, pauses and snapshots it; returns what
    /// the original printed (ending inside a line, where the pause caught it) and the kiln.
    private func snapshotCounter(pausedAfter count: Int = 20, trackDirtyPages: Bool = false) throws -> (output: String, kiln: BackgroundKiln) {
        let socket = directory + "/api.sock"
        let kiln = try BackgroundKiln(["--api-sock", socket], directory: directory, name: "original")
        var waited = 0
        while !FileManager.default.fileExists(atPath: socket) && waited < 500 { usleep(10_000); waited += 1 }
        let guest = try KilnProcess.guest("counter.elf")
        #expect(try APISocketClient.send(socket, "PUT", "/boot-source", #"{"kernel_image_path": "\#(guest)"}"#).status == 204)
        #expect(try APISocketClient.send(socket, "PUT", "/machine-config", #"{"vcpu_count": 1, "mem_size_mib": 64, "track_dirty_pages": \#(trackDirtyPages)}"#).status == 204)
        #expect(try APISocketClient.send(socket, "PUT", "/actions", #"{"action_type": "InstanceStart"}"#).status == 204)
        guard kiln.waitForOutput({ $0.counterLines.count > count }) else {
            throw KilnTestError("the counter did not reach \(count): \(kiln.output) \(kiln.errors)")
        }
        #expect(try APISocketClient.send(socket, "PATCH", "/vm", #"{"state": "Paused"}"#).status == 204)
        let body = #"{"snapshot_path": "\#(state)", "mem_file_path": "\#(memory)", "snapshot_type": "Full"}"#
        let created = try APISocketClient.send(socket, "PUT", "/snapshot/create", body)
        #expect(created.status == 204, "\(created.body) \(kiln.errors)")
        let output = kiln.output
        // Paused: nothing more comes.
        usleep(200_000)
        #expect(kiln.output == output)
        return (output, kiln)
    }

    /// The original's output and a clone's, joined, count on without a gap or repeat.
    private func expectContinues(_ original: String, _ clone: String, atLeast lines: Int) {
        let joined = original + clone
        let counts = joined.counterLines
        #expect(counts.count >= original.counterLines.count + lines, "clone printed: \(clone.prefix(300))")
        for (index, line) in counts.enumerated() {
            #expect(line.count == counts[0].count + index && line.xmm == line.count, "line \(index): \(line)")
            if line.count != counts[0].count + index || line.xmm != line.count { break }
        }
    }

    @Test func restoredCloneContinuesInANewProcess() throws {
        let (original, kiln) = try snapshotCounter()
        kiln.kill()
        let memoryBefore = try Data(contentsOf: URL(fileURLWithPath: memory))
        let clone = try BackgroundKiln(["--restore", state, "--restore-memory", memory, "--resume"],
                                       directory: directory, name: "clone")
        defer { clone.kill() }
        #expect(clone.waitForOutput { $0.counterLines.count >= 10 }, "\(clone.errors)")
        expectContinues(original, clone.output, atLeast: 10)
        clone.kill()
        // The clone wrote to its private copy only.
        #expect(try Data(contentsOf: URL(fileURLWithPath: memory)) == memoryBefore)
        try? FileManager.default.removeItem(atPath: directory)
    }

    @Test func twoClonesOfOneSnapshotRunAtOnce() throws {
        let (original, kiln) = try snapshotCounter()
        // The original resumes too: a snapshot leaves it unchanged.
        kiln.kill()
        let clones = try (0..<2).map { index in
            try BackgroundKiln(["--restore", state, "--restore-memory", memory, "--resume"], directory: directory, name: "clone\(index)")
        }
        for clone in clones {
            #expect(clone.waitForOutput { $0.counterLines.count >= 10 }, "\(clone.errors)")
            expectContinues(original, clone.output, atLeast: 10)
            clone.kill()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Two vCPUs, each counting in a register of its own (smp.elf's `count` mode): after a
    /// snapshot, a kill and a restore in a new process, both go on from where they were, so
    /// every vCPU's state (not only the boot vCPU's) and the started AP's run state came back.
    @Test func bothVcpusOfATwoVcpuGuestContinueAfterRestore() throws {
        let socket = directory + "/api.sock"
        let kiln = try BackgroundKiln(["--api-sock", socket], directory: directory, name: "smp")
        var waited = 0
        while !FileManager.default.fileExists(atPath: socket) && waited < 500 { usleep(10_000); waited += 1 }
        let guest = try KilnProcess.guest("smp.elf")
        #expect(try APISocketClient.send(socket, "PUT", "/boot-source", #"{"kernel_image_path": "\#(guest)", "boot_args": "count"}"#).status == 204)
        #expect(try APISocketClient.send(socket, "PUT", "/machine-config", #"{"vcpu_count": 2, "mem_size_mib": 64}"#).status == 204)
        #expect(try APISocketClient.send(socket, "PUT", "/actions", #"{"action_type": "InstanceStart"}"#).status == 204)
        func bothCounted(_ lines: Int, in output: String) -> Bool {
            let counts = output.countsPerCPU
            return (counts[0]?.count ?? 0) >= lines && (counts[1]?.count ?? 0) >= lines
        }
        guard kiln.waitForOutput({ bothCounted(5, in: $0) }) else {
            throw KilnTestError("both vCPUs did not count: \(kiln.output.suffix(500)) \(kiln.errors)")
        }
        #expect(try APISocketClient.send(socket, "PATCH", "/vm", #"{"state": "Paused"}"#).status == 204)
        let body = #"{"snapshot_path": "\#(state)", "mem_file_path": "\#(memory)"}"#
        let created = try APISocketClient.send(socket, "PUT", "/snapshot/create", body)
        #expect(created.status == 204, "\(created.body) \(kiln.errors)")
        let original = kiln.output
        kiln.kill()
        let before = original.countsPerCPU

        let clone = try BackgroundKiln(["--restore", state, "--restore-memory", memory, "--resume"],
                                       directory: directory, name: "smp-clone")
        defer { clone.kill() }
        #expect(clone.waitForOutput { output in
            let counts = (original + output).countsPerCPU
            return (0...1).allSatisfy { (counts[$0]?.count ?? 0) >= (before[$0]?.count ?? 0) + 5 }
        }, "\(clone.output.suffix(500)) \(clone.errors)")
        let joined = (original + clone.output).countsPerCPU
        for cpu in 0...1 {
            let counts = joined[cpu] ?? []
            #expect(counts.count >= (before[cpu]?.count ?? 0) + 5, "CPU \(cpu) stopped after the restore")
            #expect(counts.first == 0 && counts.enumerated().allSatisfy { $0.offset == $0.element },
                    "CPU \(cpu) skipped or repeated: \(counts.prefix(40))")
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    @Test func loadThroughTheAPIWaitsPausedUntilResumed() throws {
        let (original, kiln) = try snapshotCounter()
        kiln.kill()
        let socket = directory + "/clone.sock"
        let clone = try BackgroundKiln(["--api-sock", socket], directory: directory, name: "api-clone")
        defer { clone.kill() }
        var waited = 0
        while !FileManager.default.fileExists(atPath: socket) && waited < 500 { usleep(10_000); waited += 1 }
        let body = #"{"snapshot_path": "\#(state)", "mem_backend": {"backend_type": "File", "backend_path": "\#(memory)"}, "resume_vm": false}"#
        let loaded = try APISocketClient.send(socket, "PUT", "/snapshot/load", body)
        #expect(loaded.status == 204, "\(loaded.body) \(clone.errors)")
        #expect(try APISocketClient.send(socket, "GET", "/").body.contains(#""state":"Paused""#))
        usleep(300_000)
        #expect(clone.output.isEmpty, "a paused clone printed: \(clone.output)")
        #expect(try APISocketClient.send(socket, "PATCH", "/vm", #"{"state": "Resumed"}"#).status == 204)
        #expect(clone.waitForOutput { $0.counterLines.count >= 5 }, "\(clone.errors)")
        expectContinues(original, clone.output, atLeast: 5)
        // A second load on the same kiln is refused.
        let again = try APISocketClient.send(socket, "PUT", "/snapshot/load", body)
        #expect(again.status == 400 && again.body.contains("already running"))
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Full, resume, count on, Diff: the Diff holds only what changed (a fraction of the Full
    /// file's blocks), is refused until merged, and after `kiln snapshot-merge` onto a copy of
    /// the Full memory restores to exactly the Diff's moment.
    @Test func diffSnapshotMergedOntoItsBaseRestores() throws {
        let (_, kiln) = try snapshotCounter(trackDirtyPages: true)
        defer { kiln.kill() }
        let socket = directory + "/api.sock"
        #expect(try APISocketClient.send(socket, "PATCH", "/vm", #"{"state": "Resumed"}"#).status == 204)
        let before = kiln.output.counterLines.count
        #expect(kiln.waitForOutput { $0.counterLines.count >= before + 20 })
        #expect(try APISocketClient.send(socket, "PATCH", "/vm", #"{"state": "Paused"}"#).status == 204)
        let diffState = directory + "/diff.state", diffMemory = directory + "/diff.mem"
        let body = #"{"snapshot_path": "\#(diffState)", "mem_file_path": "\#(diffMemory)", "snapshot_type": "Diff"}"#
        let created = try APISocketClient.send(socket, "PUT", "/snapshot/create", body)
        #expect(created.status == 204, "\(created.body)")
        let original = kiln.output
        kiln.kill()

        func allocatedBlocks(_ path: String) throws -> Int {
            var info = stat()
            guard stat(path, &info) == 0 else { throw KilnTestError("stat \(path)") }
            return Int(info.st_blocks)
        }
        let diffBlocks = try allocatedBlocks(diffMemory), fullBlocks = try allocatedBlocks(memory)
        #expect(diffBlocks < fullBlocks / 2, "diff \(diffBlocks) blocks, full \(fullBlocks)")

        let refused = try KilnProcess.run(["--restore", diffState, "--restore-memory", diffMemory, "--resume"])
        #expect(refused.status != 0 && refused.stderr.contains("merge it onto its base"), "\(refused.stderr)")

        let merged = directory + "/merged.mem"
        try FileManager.default.copyItem(atPath: memory, toPath: merged)
        let merge = try KilnProcess.run(["snapshot-merge", "--diff", diffState, "--diff-memory", diffMemory,
                                         "--base-memory", merged, "--output", directory + "/merged.state"])
        #expect(merge.status == 0, "\(merge.stderr)")
        let clone = try BackgroundKiln(["--restore", directory + "/merged.state", "--restore-memory", merged, "--resume"],
                                       directory: directory, name: "merged")
        defer { clone.kill() }
        #expect(clone.waitForOutput { $0.counterLines.count >= 10 }, "\(clone.errors)")
        expectContinues(original, clone.output, atLeast: 10)
        try? FileManager.default.removeItem(atPath: directory)
    }

    @Test func diffWithoutTrackingIsRefused() throws {
        let (_, kiln) = try snapshotCounter(pausedAfter: 3)
        defer { kiln.kill() }
        let body = #"{"snapshot_path": "\#(directory)/d.state", "mem_file_path": "\#(directory)/d.mem", "snapshot_type": "Diff"}"#
        let refused = try APISocketClient.send(directory + "/api.sock", "PUT", "/snapshot/create", body)
        #expect(refused.status == 400 && refused.body.contains("track_dirty_pages"), "\(refused.body)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/d.state"))
        try? FileManager.default.removeItem(atPath: directory)
    }

    @Test func damagedSnapshotsAreRefusedBeforeAnyVMExists() throws {
        let (_, kiln) = try snapshotCounter(pausedAfter: 3)
        kiln.kill()
        let good = try Data(contentsOf: URL(fileURLWithPath: state))
        func refuse(state path: String, memory memoryPath: String, mentioning needle: String) throws {
            let result = try KilnProcess.run(["--restore", path, "--restore-memory", memoryPath, "--resume"], timeout: 20)
            #expect(result.status != 0, "restored a damaged snapshot: \(result.stdout.prefix(200))")
            #expect(result.stdout.isEmpty, "the guest ran: \(result.stdout.prefix(200))")
            let lines = result.stderr.split(separator: "\n").filter { !$0.contains("Guest-boot-time") }
            #expect(lines.count == 1 && result.stderr.contains(needle), "\(result.stderr)")
        }
        var flipped = good
        flipped[flipped.count / 2] ^= 0x40
        try flipped.write(to: URL(fileURLWithPath: directory + "/flipped.state"))
        try refuse(state: directory + "/flipped.state", memory: memory, mentioning: "checksum")
        try good.prefix(good.count - 100).write(to: URL(fileURLWithPath: directory + "/short.state"))
        try refuse(state: directory + "/short.state", memory: memory, mentioning: "short.state")
        var version = good
        version[8] = 0x7f   // the format version follows the 8-byte magic
        try version.write(to: URL(fileURLWithPath: directory + "/version.state"))
        try refuse(state: directory + "/version.state", memory: memory, mentioning: "version")
        try Data("not a snapshot at all".utf8).write(to: URL(fileURLWithPath: directory + "/junk.state"))
        try refuse(state: directory + "/junk.state", memory: memory, mentioning: "junk.state")
        try Data(count: 4096).write(to: URL(fileURLWithPath: directory + "/short.mem"))
        try refuse(state: state, memory: directory + "/short.mem", mentioning: "memory file")
        try refuse(state: state, memory: directory + "/missing.mem", mentioning: "missing.mem")
        try refuse(state: directory + "/missing.state", memory: memory, mentioning: "missing.state")
        try? FileManager.default.removeItem(atPath: directory)
    }
}
