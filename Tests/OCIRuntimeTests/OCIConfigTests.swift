import AgentProtocol
import Glibc
@testable import OCIRuntime
import SandboxHost
import Testing

@Suite struct OCIConfigTests {
    @Test func podmanConfigIsRead() throws {
        let config = try parse(podmanConfig)
        #expect(config.process.args == ["sh", "-c", "echo hello"])
        #expect(config.process.env.count == 4)
        #expect(config.process.uid == 1000 && config.process.gid == 1000)
        #expect(config.process.additionalGids == [10, 1000])
        #expect(config.process.rlimits.map(\.type) == ["RLIMIT_NOFILE", "RLIMIT_NPROC"])
        #expect(config.process.noNewPrivileges)
        #expect(config.hostname == "c0ffee")
        #expect(config.network == .path("/run/netns/netns-1234"))
        #expect(config.resources == OCIResources(memoryLimit: 314_572_800, cpuQuota: 150_000, cpuPeriod: 100_000))
        #expect(config.annotations["io.container.manager"] == "libpod")
        let plans = config.mountPlans
        #expect(plans.count == 7)
        #expect(plans[0] == .guest(type: "proc", destination: "/proc", options: ["nosuid", "noexec", "nodev"]))
        #expect(plans[5] == .bind(source: "/run/containers/storage/overlay-containers/abc/userdata/resolv.conf",
                                  destination: "/etc/resolv.conf"))
        let request = config.process.execRequest(makeCwd: true)
        #expect(request.argv == ["sh", "-c", "echo hello"] && request.uid == 1000 && request.stdin)
        // The guest applies the groups and limits (RLIMIT_NOFILE is 7, RLIMIT_NPROC 6) and makes a missing cwd.
        #expect(request.groups == [10, 1000] && request.makeCwd)
        #expect(request.limits == [ResourceLimit(resource: 7, soft: 1_048_576, hard: 1_048_576),
                                   ResourceLimit(resource: 6, soft: 4_194_304, hard: 4_194_304)])
        #expect(!config.process.execRequest(makeCwd: false).makeCwd)
        #expect(config.process.unappliedSettings.isEmpty)
    }

    @Test func vmSizeFollowsResourcesThenAnnotations() throws {
        var config = try parse(podmanConfig)
        // 300 MiB exactly; 1.5 CPUs -> 2 vCPUs (ceil).
        #expect(try VMSize.of(config, hostMemoryMiB: 8192) == VMSize(cpus: 2, memoryMiB: 300, kernel: nil))
        config.resources.memoryLimit = 6 << 20   // below the floor
        config.resources.cpuQuota = 50_000
        #expect(try VMSize.of(config, hostMemoryMiB: 8192) == VMSize(cpus: 1, memoryMiB: VMSize.memoryFloorMiB, kernel: nil))
        config.resources = OCIResources(memoryLimit: -1, cpuQuota: -1, cpuPeriod: 100_000)
        #expect(try VMSize.of(config, hostMemoryMiB: 8192) == VMSize(cpus: 1, memoryMiB: 256, kernel: nil))
        config.annotations = ["io.kiln.memory": "512", "io.kiln.cpus": "3", "io.kiln.kernel": "/k/vmlinux"]
        #expect(try VMSize.of(config, hostMemoryMiB: 8192) == VMSize(cpus: 3, memoryMiB: 512, kernel: "/k/vmlinux"))
    }

    @Test func absurdSizesAreRefusedByField() throws {
        var config = try parse(podmanConfig)
        config.resources = OCIResources(memoryLimit: Int64.max)
        #expect(throws: OCIConfigError.invalid(field: "linux.resources.memory.limit",
                                               problem: "\(Int64.max) bytes is more than the host's 8192 MiB")) {
            try VMSize.of(config, hostMemoryMiB: 8192)
        }
        config.resources = OCIResources(cpuQuota: Int64.max, cpuPeriod: 1)
        #expect(throws: OCIConfigError.self) { try VMSize.of(config, hostMemoryMiB: 8192) }
        config.resources = OCIResources()
        for (key, value) in [("io.kiln.memory", "12"), ("io.kiln.memory", "1e9"), ("io.kiln.memory", "99999999"),
                             ("io.kiln.cpus", "0"), ("io.kiln.cpus", "65"), ("io.kiln.cpus", "two"), ("io.kiln.kernel", "vmlinux")] {
            config.annotations = [key: value]
            do {
                _ = try VMSize.of(config, hostMemoryMiB: 8192)
                Issue.record("\(key)=\(value) accepted")
            } catch {
                guard case .invalid(let field, _) = error else { Issue.record("\(error)"); continue }
                #expect(field == "annotations.\(key)")
            }
        }
        #expect(refusal(minimalConfig(extra: #", "linux": {"resources": {"cpu": {"period": 0}}}"#))
                == .invalid(field: "linux.resources.cpu.period", problem: "0"))
        #expect(refusal(minimalConfig(extra: #", "linux": {"resources": {"memory": {"limit": 99999999999999999999999}}}"#))
                == .invalid(field: "linux.resources.memory.limit", problem: "99999999999999999999999 is out of range -1...\(Int64.max)"))
    }

    @Test func missingFieldsAreNamed() {
        #expect(refusal("{}") == .missing(field: "ociVersion"))
        #expect(refusal(#"{"ociVersion": "1.0.0"}"#) == .missing(field: "process"))
        #expect(refusal(#"{"ociVersion": "1.0.0", "process": {"args": ["x"], "cwd": "/"}}"#) == .missing(field: "root"))
        #expect(refusal(minimalConfig(process: #"{"cwd": "/"}"#)) == .missing(field: "process.args"))
        #expect(refusal(minimalConfig(process: #"{"args": [], "cwd": "/"}"#)) == .missing(field: "process.args"))
        #expect(refusal(minimalConfig(process: #"{"args": ["x"]}"#)) == .missing(field: "process.cwd"))
        #expect(refusal(minimalConfig(process: #"{"args": ["x"], "cwd": "/", "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1}]}"#))
                == .missing(field: "process.rlimits[0].hard"))
        #expect(refusal(minimalConfig(extra: #", "mounts": [{"type": "proc"}]"#)) == .missing(field: "mounts[0].destination"))
    }

    @Test func wrongTypesAreNamed() {
        #expect(refusal("[]") == .wrongType(field: "(document)", expected: "an object", found: "an array"))
        #expect(refusal(#"{"ociVersion": 1}"#) == .wrongType(field: "ociVersion", expected: "a string", found: "a number"))
        #expect(refusal(minimalConfig(process: #"{"args": "true", "cwd": "/"}"#))
                == .wrongType(field: "process.args", expected: "an array", found: "a string"))
        #expect(refusal(minimalConfig(process: #"{"args": ["a", 2], "cwd": "/"}"#))
                == .wrongType(field: "process.args[1]", expected: "a string", found: "a number"))
        #expect(refusal(minimalConfig(process: #"{"args": ["a"], "cwd": "/", "terminal": "yes"}"#))
                == .wrongType(field: "process.terminal", expected: "a boolean", found: "a string"))
        #expect(refusal(minimalConfig(process: #"{"args": ["a"], "cwd": "/", "user": {"uid": 1.5}}"#))
                == .wrongType(field: "process.user.uid", expected: "an integer", found: "1.5"))
        #expect(refusal(minimalConfig(process: #"{"args": ["a"], "cwd": "/", "user": {"uid": -1}}"#))
                == .invalid(field: "process.user.uid", problem: "-1 is out of range 0...4294967294"))
        #expect(refusal(minimalConfig(process: #"{"args": ["a"], "cwd": "/", "user": {"uid": 4294967295}}"#))
                == .invalid(field: "process.user.uid", problem: "4294967295 is out of range 0...4294967294"))
        #expect(refusal(minimalConfig(process: #"{"args": ["a"], "cwd": "/", "user": {"additionalGids": [1, "2"]}}"#))
                == .wrongType(field: "process.user.additionalGids[1]", expected: "an integer", found: "a string"))
        #expect(refusal(minimalConfig(extra: #", "annotations": {"a": 1}"#))
                == .wrongType(field: "annotations.a", expected: "a string", found: "a number"))
        #expect(refusal(minimalConfig(extra: #", "linux": {"namespaces": [{"type": "network", "path": 7}]}"#))
                == .wrongType(field: "linux.namespaces[0].path", expected: "a string", found: "a number"))
    }

    @Test func badValuesAreNamed() {
        #expect(refusal(#"{"ociVersion": "2.0.0"}"#) == .unsupported(field: "ociVersion", reason: "2.0.0 (kiln reads 1.x)"))
        #expect(refusal(minimalConfig(process: #"{"args": ["a"], "cwd": "relative"}"#))
                == .invalid(field: "process.cwd", problem: "relative is not an absolute path"))
        #expect(refusal(minimalConfig(process: #"{"args": ["a"], "cwd": "/", "env": ["NOEQUALS"]}"#))
                == .invalid(field: "process.env[0]", problem: "expected NAME=VALUE"))
        #expect(refusal(minimalConfig(process: #"{"args": ["a\u0000b"], "cwd": "/"}"#))
                == .invalid(field: "process.args[0]", problem: "contains a NUL byte"))
        #expect(refusal(minimalConfig(process: #"{"args": ["a"], "cwd": "/", "rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]}"#))
                == .invalid(field: "process.rlimits[0].type", problem: "unknown rlimit RLIMIT_BOGUS"))
        #expect(refusal(minimalConfig(process: #"{"args": ["a"], "cwd": "/", "rlimits": [{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}]}"#))
                == .invalid(field: "process.rlimits[0].soft", problem: "2 is above the hard limit 1"))
        #expect(refusal(minimalConfig(extra: #", "mounts": [{"destination": "/x/../etc", "type": "tmpfs"}]"#))
                == .invalid(field: "mounts[0].destination", problem: "/x/../etc is not an absolute path without '..'"))
        #expect(refusal(minimalConfig(extra: #", "mounts": [{"destination": "/data", "type": "bind", "source": "rel"}]"#))
                == .invalid(field: "mounts[0].source", problem: "a bind mount needs an absolute host path"))
        if case .unsupported(let field, _) = refusal(minimalConfig(extra: #", "mounts": [{"destination": "/d", "type": "nfs", "source": "srv:/x"}]"#)) {
            #expect(field == "mounts[0].type")
        } else { Issue.record("an nfs mount was accepted") }
        #expect(refusal(minimalConfig(extra: #", "linux": {"namespaces": [{"type": "network"}, {"type": "network"}]}"#))
                == .invalid(field: "linux.namespaces[1].type", problem: "network given twice"))
        #expect(refusal(minimalConfig(extra: #", "hostname": "\#(String(repeating: "h", count: 65))""#))
                == .invalid(field: "hostname", problem: "longer than 64 bytes"))
        // It travels on the guest's kernel command line: nothing that could split or quote it.
        for name in ["two words", "quote\\\"d", "tab\\tname", "caf\u{e9}"] {
            #expect(refusal(minimalConfig(extra: #", "hostname": "\#(name)""#))
                    == .invalid(field: "hostname", problem: "only printable ASCII without spaces or quotes can reach the guest"), "\(name)")
        }
        let manyArgs = "[" + Array(repeating: "\"a\"", count: OCIProcess.listLimit + 1).joined(separator: ",") + "]"
        #expect(refusal(minimalConfig(process: #"{"args": \#(manyArgs), "cwd": "/"}"#))
                == .invalid(field: "process.args", problem: "more than 4096 entries"))
        let bigArg = String(repeating: "x", count: OCIProcess.requestBytesLimit)
        if case .invalid(let field, _) = refusal(minimalConfig(process: #"{"args": ["\#(bigArg)"], "cwd": "/"}"#)) {
            #expect(field == "process.args")
        } else { Issue.record("a 1 MB argument was accepted") }
    }

    @Test func networkNamespaceForms() throws {
        #expect(try parse(minimalConfig()).network == .host)
        #expect(try parse(minimalConfig(extra: #", "linux": {"namespaces": [{"type": "network"}]}"#)).network == .new)
        #expect(try parse(minimalConfig(extra: #", "linux": {"namespaces": [{"type": "network", "path": "/proc/1/ns/net"}]}"#)).network
                == .path("/proc/1/ns/net"))
        #expect(refusal(minimalConfig(extra: #", "linux": {"namespaces": [{"type": "network", "path": "ns"}]}"#))
                == .invalid(field: "linux.namespaces[0].path", problem: "ns is not an absolute path"))
        #expect(refusal(minimalConfig(extra: #", "linux": {"namespaces": [{"type": "bogus"}]}"#))
                == .invalid(field: "linux.namespaces[0].type", problem: "unknown namespace type bogus"))
    }

    @Test func nullsAreAbsentMembers() throws {
        let config = try parse(minimalConfig(process: #"{"args": ["a"], "cwd": "/", "env": null, "user": null}"#,
                                             extra: #", "mounts": null, "linux": {"resources": null}"#))
        #expect(config.process.env.isEmpty && config.mounts.isEmpty && config.process.uid == 0)
    }

    @Test func filesAreBoundedAndMustBeRegular() throws {
        let scratch = Scratch()
        let bundle = scratch.directory("bundle")
        #expect(throws: OCIConfigError.read(path: bundle + "/config.json", operation: "open", errno: ENOENT)) {
            try OCIConfig.load(bundle: bundle)
        }
        // A FIFO would block a reader for ever: refused without blocking.
        #expect(mkfifo(bundle + "/config.json", 0o600) == 0)
        #expect(throws: OCIConfigError.read(path: bundle + "/config.json", operation: "open (not a regular file)", errno: EINVAL)) {
            try OCIConfig.load(bundle: bundle)
        }
        unlink(bundle + "/config.json")
        let huge = minimalConfig(extra: #", "annotations": {"pad": "\#(String(repeating: "p", count: BundleFile.sizeLimit))"}"#)
        _ = scratch.write("bundle/config.json", huge)
        #expect(throws: OCIConfigError.tooLarge(path: bundle + "/config.json", limit: BundleFile.sizeLimit)) {
            try OCIConfig.load(bundle: bundle)
        }
        _ = scratch.write("bundle/config.json", "{\"ociVersion\": \"1.0.0\",}")
        if case .syntax(let path, _) = refusalLoading(bundle) { #expect(path == bundle + "/config.json") }
        else { Issue.record("a trailing comma was accepted") }
        _ = scratch.write("bundle/config.json", podmanConfig)
        #expect(try OCIConfig.load(bundle: bundle).hostname == "c0ffee")
    }

    private func refusalLoading(_ bundle: String) -> OCIConfigError? {
        do { _ = try OCIConfig.load(bundle: bundle); return nil } catch { return error }
    }

    @Test func bindMountsAreSortedByWhatTheHostHas() throws {
        let config = try parse(minimalConfig(extra: #"""
            , "mounts": [{"destination": "/etc/hosts", "type": "bind", "source": "/h/hosts"},
                         {"destination": "/data", "source": "/h/data", "options": ["rbind", "rw"]},
                         {"destination": "/dev/shm", "type": "bind", "source": "/h/shm"},
                         {"destination": "/proc", "type": "proc"}]
            """#))
        let kinds: [String: HostBinds.Kind] = ["/h/hosts": .init(isDirectory: false, isRegular: true, size: 100),
                                                "/h/data": .init(isDirectory: true, isRegular: false, size: 4096)]
        let binds = try HostBinds.classify(config, inspect: { kinds[$0] })
        #expect(binds.files.map(\.destination) == ["/etc/hosts"])
        #expect(binds.directories.map(\.source) == ["/h/data"])
        #expect(binds.shares == [HostShare(hostPath: "/h/data", guestPath: "/data", tag: "kiln-share0")])
        #expect(binds.leftToTheGuest == ["/dev/shm"])
        let dotted = try parse(minimalConfig(extra: #", "mounts": [{"destination": "/a/./b", "type": "bind", "source": "/h/data"}]"#))
        #expect(throws: OCIConfigError.self) { try HostBinds.classify(dotted, inspect: { kinds[$0] }) }
        #expect(throws: OCIConfigError.invalid(field: "mounts[0].source", problem: "/h/hosts does not exist")) {
            try HostBinds.classify(config, inspect: { _ in nil })
        }
        let socket: [String: HostBinds.Kind] = ["/h/hosts": .init(isDirectory: false, isRegular: false, size: 0)]
        #expect(throws: OCIConfigError.self) { try HostBinds.classify(config, inspect: { socket[$0] ?? kinds[$0] }) }
        let big: [String: HostBinds.Kind] = ["/h/hosts": .init(isDirectory: false, isRegular: true, size: HostBinds.fileLimit + 1)]
        #expect(throws: OCIConfigError.self) { try HostBinds.classify(config, inspect: { big[$0] ?? kinds[$0] }) }
    }

    /// What `update` keeps: each update over the last, written as LinuxResources JSON that reads back the same.
    @Test func acceptedResourcesAreKeptAsJSON() throws {
        let created = OCIResources(memoryLimit: 268_435_456, cpuQuota: 200_000, cpuPeriod: 100_000)
        let merged = created.updated(by: OCIResources(cpuQuota: 150_000))
        #expect(merged == OCIResources(memoryLimit: 268_435_456, cpuQuota: 150_000, cpuPeriod: 100_000))
        let text = merged.json.serialized()
        #expect(text == #"{"memory":{"limit":268435456},"cpu":{"quota":150000,"period":100000}}"#)
        #expect(try OCIResources.parse(JSONFields(path: "", JSONDocument.parse(Array(text.utf8)))) == merged)
        #expect(OCIResources().json.serialized() == "{}")
    }

    /// `update --resources -`: containerd's runc shim writes the LinuxResources to a pipe.
    @Test func resourcesAreReadFromAPipe() throws {
        var fds: [Int32] = [-1, -1]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let text = #"{"memory": {"limit": 268435456}, "cpu": {"quota": 200000, "period": 100000}}"#
        #expect(text.withCString { write(fds[1], $0, strlen($0)) } == text.utf8.count)
        close(fds[1])
        let document = try BundleFile.read(descriptor: fds[0], path: "(pipe)")
        #expect(try OCIResources.parse(JSONFields(path: "", document))
                == OCIResources(memoryLimit: 268_435_456, cpuQuota: 200_000, cpuPeriod: 100_000))
    }
}
