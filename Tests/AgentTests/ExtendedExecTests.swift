@testable import AgentProtocol
import AgentCore
import Glibc
import Sandbox
import Testing

/// Message 0x12: an exec with supplementary groups, resource limits and a working directory the
/// agent makes when it is missing (what kiln-oci needs for config.json's process).
@Suite struct ExtendedExecCodecTests {
    static func extended() -> ExecRequest {
        var request = ExecRequest(argv: ["id"], env: ["A=1"], cwd: "/work", uid: 1000, gid: 1000, stdin: true)
        request.groups = [10, 20, 4_294_967_294]
        request.limits = [ResourceLimit(resource: 7, soft: 1024, hard: 4096),
                          ResourceLimit(resource: 3, soft: 8 << 20, hard: .max)]
        request.makeCwd = true
        return request
    }

    @Test func extendedRequestRoundTripsAsType0x12() throws {
        let frame = encodeFrame(.exec(Self.extended()))
        #expect(frame[4] == 0x12)
        #expect(try FrameCodec.decode(frame: Array(frame.dropFirst(4))) == .exec(Self.extended()))
    }

    @Test func plainRequestKeepsType0x02() {
        // An agent that predates 0x12 still understands every request that does not need it.
        #expect(encodeFrame(.exec(ExecRequest(argv: ["true"], cwd: "/x", uid: 0, gid: 0)))[4] == 0x02)
        var onlyCwd = ExecRequest(argv: ["true"])
        onlyCwd.makeCwd = true
        #expect(encodeFrame(.exec(onlyCwd))[4] == 0x12)
    }

    /// A plain exec body (argv ["true"], no env, cwd "", uid 0, gid 0, no flags) as type 0x12.
    static func body(_ tail: (inout ByteWriter) -> Void) -> [UInt8] {
        var w = ByteWriter()
        w.u8(0x12); w.stringList(["true"]); w.stringList([]); w.string(""); w.u32(0); w.u32(0); w.u32(0)
        tail(&w)
        return w.bytes
    }

    static let hostile: [(String, [UInt8], ProtocolError)] = [
        ("group count past the frame", body { $0.u32(0); $0.u32(.max) }, .invalidField("exec.groups.count 4294967295")),
        ("group count above NGROUPS_MAX", body { $0.u32(0); $0.u32(65537) }, .invalidField("exec.groups.count 65537")),
        ("group count with too few bytes", body { $0.u32(0); $0.u32(3); $0.u32(1) }, .invalidField("exec.groups.count 3")),
        ("limit count above the resources", body { $0.u32(0); $0.u32(0); $0.u32(17) }, .invalidField("exec.limits.count 17")),
        ("unknown resource", body { $0.u32(0); $0.u32(0); $0.u32(1); $0.u32(16); $0.u64(1); $0.u64(1) },
         .invalidField("exec.limits resource 16")),
        ("soft above hard", body { $0.u32(0); $0.u32(0); $0.u32(1); $0.u32(7); $0.u64(2); $0.u64(1) },
         .invalidField("exec.limits resource 7: soft 2 above hard 1")),
        ("resource twice", body { w in w.u32(0); w.u32(0); w.u32(2); for _ in 0..<2 { w.u32(7); w.u64(1); w.u64(1) } },
         .invalidField("exec.limits resource 7 given twice")),
        ("unknown option bit", body { $0.u32(2); $0.u32(0); $0.u32(0) }, .invalidField("exec.options 0x2")),
        ("nothing extended", body { $0.u32(0); $0.u32(0); $0.u32(0) },
         .invalidField("extended exec without groups, limits or options")),
        ("limits missing", body { $0.u32(1); $0.u32(0) }, .truncatedField("exec.limits.count")),
    ]

    @Test(arguments: hostile)
    func hostileExtensionsAreRefused(_ testCase: (String, [UInt8], ProtocolError)) {
        #expect(throws: testCase.2, "\(testCase.0)") { try FrameCodec.decode(frame: testCase.1) }
    }

    @Test func encoderRefusesWhatTheDecoderWould() {
        var tooMany = ExecRequest(argv: ["true"])
        tooMany.groups = Array(repeating: 5, count: FrameLimits.maxGroups + 1)
        #expect(throws: ProtocolError.self) { try FrameCodec.encode(.exec(tooMany)) }
        var inverted = ExecRequest(argv: ["true"])
        inverted.limits = [ResourceLimit(resource: 7, soft: 9, hard: 8)]
        #expect(throws: ProtocolError.invalidField("exec.limits resource 7: soft 9 above hard 8")) {
            try FrameCodec.encode(.exec(inverted))
        }
    }
}

@Suite struct ExtendedExecSessionTests {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func groupsAndGidApply() throws {
        try #require(geteuid() == 0, "setgroups needs root; this test cannot run as uid \(geteuid())")
        var request = ExecRequest(argv: ["/bin/sh", "-c", "echo $(id -u):$(id -g):$(id -G)"], uid: 65534, gid: 65533)
        request.groups = [4000, 4001]
        let r = try runThroughAgent(request)
        #expect(r.status == .exited(0))
        #expect(Self.text(r.out) == "65534:65533:65533 4000 4001\n")
    }

    @Test func resourceLimitsApplyBeforeTheUserChanges() throws {
        try #require(geteuid() == 0, "switching uid needs root; this test cannot run as uid \(geteuid())")
        var current = rlimit()
        #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &current) == 0)
        // Below the machine's own hard limit: lowering needs no privilege (CAP_SYS_RESOURCE is missing here).
        let hard = min(UInt64(current.rlim_max), 3000), soft = hard / 2
        var request = ExecRequest(argv: ["/bin/sh", "-c", "echo $(ulimit -Sn) $(ulimit -Hn) $(ulimit -Sc)"], uid: 65534, gid: 65534)
        request.limits = [ResourceLimit(resource: UInt32(RLIMIT_NOFILE.rawValue), soft: soft, hard: hard),
                          ResourceLimit(resource: UInt32(RLIMIT_CORE.rawValue), soft: 0, hard: 0)]
        let r = try runThroughAgent(request)
        #expect(r.status == .exited(0))
        #expect(Self.text(r.out) == "\(soft) \(hard) 0\n")
    }

    @Test func aLimitTheKernelRefusesIsAnError() throws {
        var current = rlimit()
        #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &current) == 0)
        try #require(current.rlim_max < 1 << 30,
                     "needs an RLIMIT_NOFILE hard limit below 2^30 to exceed (infinity is not); this one is \(current.rlim_max)")
        // Above the hard limit and above nr_open (2^20 by default, at most 2^30): EPERM or EINVAL.
        var request = ExecRequest(argv: ["true"])
        request.limits = [ResourceLimit(resource: UInt32(RLIMIT_NOFILE.rawValue), soft: 1 << 31, hard: 1 << 31)]
        let harness = AgentHarness()
        let scratch = Scratch()
        let out = Capture(scratch, "o")
        #expect(throws: SandboxError.self) {
            _ = try AgentClient(fd: harness.hostFD).run(request, stdout: out.fd, stderr: out.fd)
        }
        guard case .spawn(command: "true", let errno)? = harness.agentResult() else {
            Issue.record("expected a spawn error")
            return
        }
        #expect(errno == EPERM || errno == EINVAL)
    }

    @Test func missingWorkingDirectoryIsMadeWhenAsked() throws {
        let scratch = Scratch()
        let cwd = scratch.path + "/a/b/c"
        var request = ExecRequest(argv: ["/bin/sh", "-c", "pwd"], cwd: cwd)
        request.makeCwd = true
        let r = try runThroughAgent(request)
        #expect(r.status == .exited(0))
        #expect(Self.text(r.out) == cwd + "\n")
        var info = stat()
        #expect(stat(cwd, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o755 && info.st_uid == geteuid())
    }

    @Test func aWorkingDirectoryUnderAFileIsAnError() throws {
        let scratch = Scratch()
        let file = scratch.path + "/file"
        let fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        #expect(fd >= 0)
        close(fd)
        var request = ExecRequest(argv: ["true"], cwd: file + "/below")
        request.makeCwd = true
        let harness = AgentHarness()
        let out = Capture(scratch, "o")
        #expect(throws: SandboxError.self) {
            _ = try AgentClient(fd: harness.hostFD).run(request, stdout: out.fd, stderr: out.fd)
        }
        #expect(harness.agentResult() == .spawn(command: "true", errno: ENOTDIR))
    }
}
