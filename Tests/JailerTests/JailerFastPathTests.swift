import ChildProcessSupport
import Foundation
import Jailer
import Testing
@testable import kiln_jailer

/// kiln-jailer reads kiln's plain line without ArgumentParser (JailerFastPath). The two parsers
/// must make the same request of every line the fast path takes, and it must decline every
/// spelling it does not take (KilnTests check its option list against ArgumentParser's).
@Suite struct JailerFastPathTests {
    static let everything = [
        "--id", "vm-1", "--exec-file", "/usr/bin/kiln", "--uid", "123", "--gid", "456", "--chroot-base-dir", "/srv/j",
        "--netns", "/var/run/netns/n", "--daemonize", "--new-pid-ns", "--cgroup-version", "2", "--cgroup", "pids.max=64",
        "--cgroup", "memory.max=1000", "--parent-cgroup", "kiln/x", "--resource-limit", "no-file=4096",
        "--resource-limit", "fsize=10", "--copy-in", "/a/disk", "--copy-in", "/b/cfg", "--bind-in", "/c/image",
        "--bind-in", "/d/sock", "--bind-in-dir", "/e/share", "--allow-root", "--keep-dac-read-search",
        "--", "boot", "--kernel", "/k", "--", "--id", "x",
    ]

    static func argumentParsersRequest(_ arguments: [String]) throws -> JailRequest {
        try JailerCommand.parse(arguments).request()
    }

    @Test func bothParsersMakeTheSameRequest() throws {
        let lines: [[String]] = [
            Self.everything,
            ["--id", "run-1", "--exec-file", "/k", "--uid", "65534", "--gid", "65534", "--chroot-base-dir", "/tmp/r",
             "--bind-in", "/vmlinux", "--", "boot", "--no-stdin"],
            ["--uid", "1", "--gid", "2", "--exec-file", "/k", "--id", "a"],
            ["--id", "a", "--exec-file", "/k", "--uid", "1", "--gid", "2", "--"],
        ]
        for line in lines {
            let quick = try #require(JailerFastPath.request(line[...]), "\(line)")
            #expect(quick == (try Self.argumentParsersRequest(line)), "\(line)")
        }
        let all = try #require(JailerFastPath.request(Self.everything[...]))
        #expect(all.execArguments == ["boot", "--kernel", "/k", "--", "--id", "x"])
        #expect(all.cgroups == ["pids.max=64", "memory.max=1000"] && all.allowRoot && all.keepDacReadSearch)
    }

    @Test(arguments: [
        ["--id=a", "--exec-file", "/k", "--uid", "1", "--gid", "2"],
        ["--help"],
        ["--id", "a", "--exec-file", "/k", "--uid", "1"],
        ["--id", "a", "--exec-file", "/k", "--uid", "x", "--gid", "2"],
        ["--id", "a", "--exec-file", "/k", "--uid", "1", "--gid", "2", "--cgroup-version", "two"],
        ["--id", "a", "--exec-file", "/k", "--uid", "1", "--gid", "2", "--frobnicate"],
        ["--id", "a", "--exec-file", "/k", "--uid", "-1", "--gid", "2"],
        ["--id", "a", "--id", "b", "--exec-file", "/k", "--uid", "1", "--gid", "2"],
        ["--id", "a", "--exec-file", "/k", "--uid", "1", "--gid", "2", "stray"],
        ["--id", "a", "--exec-file", "/k", "--uid", "1", "--gid", "2", "--netns"],
    ])
    func declinesWhatItDoesNotTake(line: [String]) {
        #expect(JailerFastPath.request(line[...]) == nil, "\(line)")
    }

    /// Through the binary, a line the fast path takes and the same line spelled `--name=value`
    /// (which goes to ArgumentParser) fail alike: a validation error before anything is built.
    @Test func bothParsersFailAlike() throws {
        let quick = ["--id", "bad id!", "--exec-file", "/nonexistent/kiln", "--uid", "1", "--gid", "2", "--", "boot"]
        let spelled = ["--id=bad id!", "--exec-file=/nonexistent/kiln", "--uid=1", "--gid=2", "--", "boot"]
        let a = try ChildProcess.run(JailerHarness.jailerBinary, quick, timeout: 60)
        let b = try ChildProcess.run(JailerHarness.jailerBinary, spelled, timeout: 60)
        #expect(a.status == 1 && a.status == b.status, "\(a) \(b)")
        #expect(a.stderr == b.stderr && a.stderr.hasPrefix("kiln-jailer: error: ") && a.stderr.contains("--id"), "\(a) \(b)")
    }
}
