import ChildProcessSupport
import Foundation
import SandboxHost
@testable import OCIRuntime
import Testing

/// The kiln-oci binary built next to this test bundle, for what needs no VM: usage errors,
/// logs, `features`, state of missing containers, `create` refusing bad bundles without leaving
/// state behind.
@Suite struct KilnOCICommandTests {
    static var binary: String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("kiln-oci").path
    }

    func run(_ arguments: [String]) throws -> ChildProcessResult { try ChildProcess.run(Self.binary, arguments, timeout: 60) }

    @Test func versionAndFeatures() throws {
        let version = try run(["--version"])
        #expect(version.status == 0 && version.stdout.hasPrefix("kiln-oci version "))
        let features = try run(["features"])
        #expect(features.status == 0)
        let document = try JSONDocument.parse(Array(features.stdout.utf8))
        guard case .object(let members) = document else { Issue.record("features is not an object"); return }
        #expect(members["ociVersionMin"] == .string("1.0.0"))
        #expect(members["linux"] != nil && members["mountOptions"] != nil && members["annotations"] != nil)
    }

    @Test func errorsGoToTheLogAsRuncWritesThem() throws {
        let scratch = Scratch()
        let json = scratch.path + "/log.json", text = scratch.path + "/log.txt"
        let missing = try run(["--root", scratch.path + "/root", "--log", json, "--log-format", "json", "state", "nope"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "kiln-oci: container \"nope\" does not exist\n")
        let record = try JSONDocument.parse(Array((try String(contentsOfFile: json, encoding: .utf8)).utf8.dropLast()))
        guard case .object(let members) = record else { Issue.record("log line is not an object"); return }
        #expect(members["level"] == .string("error") && members["msg"] == .string("container \"nope\" does not exist"))
        if case .string(let time) = members["time"] { #expect(time.hasSuffix("Z")) } else { Issue.record("no time") }

        for arguments in [["bogus"], ["create", "--frob", "x"], ["state"], ["kill", "x", "NOTASIGNAL"], ["state", "../x"]] {
            let result = try run(["--root", scratch.path + "/root", "--log", text] + arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr.hasPrefix("kiln-oci: ") && result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
        }
        let lines = (try String(contentsOfFile: text, encoding: .utf8)).split(separator: "\n")
        #expect(lines.count == 5 && lines.allSatisfy { $0.hasPrefix("time=\"") && $0.contains(" level=error msg=\"") })
    }

    @Test func deleteForceOfAMissingContainerSucceeds() throws {
        let scratch = Scratch()
        #expect(try run(["--root", scratch.path + "/root", "delete", "--force", "nope"]).status == 0)
        #expect(try run(["--root", scratch.path + "/root", "delete", "nope"]).status == 1)
        let list = try run(["--root", scratch.path + "/root", "list", "--format", "json"])
        #expect(list.status == 0 && list.stdout == "[]\n")
    }

    @Test func createRefusesBadBundlesAndLeavesNoState() throws {
        let scratch = Scratch()
        let root = scratch.path + "/root"
        let bundle = scratch.directory("bundle")
        func create(_ id: String = "c1") throws -> ChildProcessResult {
            try run(["--root", root, "create", "--bundle", bundle, "--pid-file", scratch.path + "/pid", id])
        }
        var result = try create()
        #expect(result.status == 1 && result.stderr.contains("config.json") && result.stderr.contains("No such file"))
        _ = scratch.write("bundle/config.json", minimalConfig(process: #"{"args": ["true"], "cwd": "/", "user": {"uid": "root"}}"#))
        result = try create()
        #expect(result.stderr == "kiln-oci: process.user.uid: expected an integer, found a string\n")
        _ = scratch.write("bundle/config.json", minimalConfig())
        result = try create()
        #expect(result.status == 1 && result.stderr.contains("root.path") && result.stderr.contains("not a directory"))
        result = try create("_bad")
        #expect(result.stderr.contains("invalid container id"))
        _ = scratch.directory("bundle/rootfs")
        _ = scratch.write("bundle/config.json", minimalConfig(process: #"{"args": ["true"], "cwd": "/", "terminal": true}"#))
        result = try create()
        #expect(result.stderr == "kiln-oci: process.terminal: true needs --console-socket\n")
        #expect(!FileManager.default.fileExists(atPath: root + "/c1"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/pid"))
    }

    /// The rootfs directory is mounted in the guest by kiln's agent initramfs: without one,
    /// `create` says so before it makes any state or starts a VMM.
    @Test func createNeedsTheAgentInitramfs() throws {
        let scratch = Scratch()
        let root = scratch.path + "/root"
        let bundle = scratch.directory("bundle")
        _ = scratch.directory("bundle/rootfs")
        _ = scratch.directory("assets")
        _ = scratch.write("bundle/config.json", minimalConfig())
        let kernel = scratch.write("vmlinux", "not a kernel")
        let result = try ChildProcess.run(Self.binary, ["--root", root, "create", "--bundle", bundle, "--pid-file", scratch.path + "/pid", "c1"],
                                          timeout: 60, environment: ["KILN_VMLINUX": kernel, "KILN_AGENT_INITRD": "",
                                                                     "KILN_DATA_DIR": scratch.path + "/assets"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("kiln-oci: no agent initramfs") && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/c1"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/pid"))
    }
}

/// `delete` of a container whose create is still running, and of one whose create died.
@Suite struct KilnOCIDeleteAbandonedTests {
    @Test func deleteWaitsForARunningCreateButRemovesADeadOnes() throws {
        let scratch = Scratch()
        let root = scratch.path + "/root"
        let directory = try ContainerStore(root: root).claim("c1")   // its creator: this process, alive
        let refused = try ChildProcess.run(KilnOCICommandTests.binary, ["--root", root, "delete", "c1"], timeout: 60)
        #expect(refused.status == 1 && refused.stderr.contains("while it is being created"))
        #expect(FileText.write(directory.file("creator"), ProcessIdentity(pid: 999_999, startTime: 1).text) == nil)
        let removed = try ChildProcess.run(KilnOCICommandTests.binary, ["--root", root, "delete", "c1"], timeout: 60)
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(ContainerStore(root: root).ids().isEmpty)
    }
}
