import Foundation
import Testing

/// Bad arguments and failing steps: one line naming the problem, exit 1, and no jail directory
/// or cgroup left behind, whichever step failed (before or after pivot_root, with or without a
/// new PID namespace).
@Suite(.serialized) struct JailerFailureTests {
    func expectFailure(_ harness: JailerHarness, _ arguments: [String], mentioning needle: String,
                       id: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try harness.run(arguments)
        #expect(result.status == 1, "\(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("kiln-jailer: error: ") == true, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(needle), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: "\(harness.base)/kiln/\(id)"), "jail left behind", sourceLocation: sourceLocation)
        for hierarchy in ["pids", "memory", "unified"] {
            #expect(!harness.cgroupExists(hierarchy, id), "\(hierarchy) cgroup left behind", sourceLocation: sourceLocation)
        }
    }

    func kiln(_ idle: String) -> [String] { ["boot", "--kernel", "/idle.elf", "--no-stdin"] }

    @Test func badArgumentsBuildNothing() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        try expectFailure(harness, harness.arguments(id: "bad id!", extra: [], kiln: []), mentioning: "--id", id: "bad id!")
        var missing = harness.arguments(id: "m-1", extra: [], kiln: [])
        missing[missing.firstIndex(of: "--exec-file")! + 1] = "/nonexistent/kiln"
        try expectFailure(harness, missing, mentioning: "/nonexistent/kiln", id: "m-1")
        try expectFailure(harness, harness.arguments(id: "r-1", extra: ["--resource-limit", "nofile=3"], kiln: []),
                          mentioning: "--resource-limit", id: "r-1")
        try expectFailure(harness, ["--id", "x"], mentioning: "--exec-file", id: "x")
        #expect(!FileManager.default.fileExists(atPath: harness.base), "validation must not create the base directory")
    }

    @Test func existingJailIsRefusedAndLeftAlone() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        let marker = "\(harness.base)/kiln/taken/root/marker"
        try FileManager.default.createDirectory(atPath: "\(harness.base)/kiln/taken/root", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: marker, contents: Data("old".utf8))
        let result = try harness.run(harness.arguments(id: "taken", extra: ["--cgroup", "pids.max=8"], kiln: []))
        #expect(result.status == 1 && result.stderr.contains("already exists"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(FileManager.default.contents(atPath: marker) == Data("old".utf8))
        #expect(!harness.cgroupExists("pids", "taken"))
    }

    @Test func failureWritingACgroupUndoesTheJail() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        try expectFailure(harness, harness.arguments(id: "cg-1", extra: ["--cgroup", "pids.max=8", "--cgroup", "pids.no_such_file=1"], kiln: []),
                          mentioning: "cgroup: open", id: "cg-1")
        #expect(!FileManager.default.fileExists(atPath: harness.base), "shared parent directories created by the run remain")
    }

    /// no-file above the hard limit fails after pivot_root: the undo works through descriptors.
    @Test(arguments: [false, true])
    func failureInsideTheJailUndoesIt(newPidNamespace: Bool) throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        var hard = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &hard)
        let tooMany = hard.rlim_max == rlim_t.max ? "18446744073709551615" : "\(hard.rlim_max + 1)"
        let extra = ["--cgroup", "pids.max=8", "--cgroup", "memory.limit_in_bytes=268435456", "--resource-limit", "no-file=\(tooMany)"]
            + (newPidNamespace ? ["--new-pid-ns"] : [])
        try expectFailure(harness, harness.arguments(id: "rl-1", extra: extra, kiln: []),
                          mentioning: "resource limits: setrlimit no-file", id: "rl-1")
    }

    /// A dynamically linked executable could not start in the jail (no loader there); it is
    /// refused before anything is built, since a failed exec could no longer be undone.
    @Test func dynamicExecutableIsRefusedUpFront() throws {
        let harness = try JailerHarness()
        defer { harness.cleanUp() }
        var arguments = harness.arguments(id: "ex-1", extra: ["--cgroup", "pids.max=8"], kiln: [])
        arguments[arguments.firstIndex(of: "--exec-file")! + 1] = "/bin/true"
        try expectFailure(harness, arguments, mentioning: "dynamically linked", id: "ex-1")
        #expect(!FileManager.default.fileExists(atPath: harness.base))
    }
}
