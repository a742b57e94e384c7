import AgentProtocol
import Sandbox
import Testing

/// The job `kiln run`/`exec`/`agent-exec` make from their options, and the option errors'
/// one-line texts.
@Suite struct JobOptionsTests {
    static let base = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=dumb"]

    @Test func plainCommandKeepsTheAgentsUserAndTheDefaults() throws {
        let job = try JobOptions(command: ["uname", "-a"]).job()
        #expect(job.request.argv == ["uname", "-a"])
        #expect(job.request.env == Self.base)
        #expect(job.request.cwd == "")
        #expect(job.request.uid == FrameLimits.keepID && job.request.gid == FrameLimits.keepID)
        #expect(job.request.stdin)
        #expect(job.copyIn.isEmpty && job.copyOut.isEmpty)
    }

    /// --env goes on top, in order: a later NAME= replaces the default and any earlier one,
    /// and moves to the end.
    @Test func envOverridesInOrder() throws {
        let options = JobOptions(env: ["A=1", "PATH=/x", "B=2", "A=3", "EMPTY="], command: ["env"])
        #expect(try options.job().request.env == ["HOME=/root", "TERM=dumb", "PATH=/x", "B=2", "A=3", "EMPTY="])
    }

    @Test(arguments: [
        (JobOptions(), "no command: give it after --, e.g. kiln run -- uname -a"),
        (JobOptions(command: [""]), "no command: give it after --, e.g. kiln run -- uname -a"),
        (JobOptions(env: ["NOEQUALS"], command: ["x"]), "--env NOEQUALS: expected NAME=VALUE"),
        (JobOptions(env: ["=v"], command: ["x"]), "--env =v: expected NAME=VALUE"),
        (JobOptions(env: ["A=b\u{0}c"], command: ["x"]), "--env A=b\u{0}c: contains a NUL byte"),
        (JobOptions(workdir: "tmp", command: ["x"]), "--workdir tmp: must be an absolute guest path"),
        (JobOptions(user: "app", command: ["x"]), "--user app: expected UID or UID:GID, numbers below 4294967295"),
        (JobOptions(user: "1:2:3", command: ["x"]), "--user 1:2:3: expected UID or UID:GID, numbers below 4294967295"),
        (JobOptions(user: "4294967295", command: ["x"]), "--user 4294967295: expected UID or UID:GID, numbers below 4294967295"),
        (JobOptions(copyIn: ["nocolon"], command: ["x"]), "--copy-in nocolon: expected SRC:DST"),
        (JobOptions(copyIn: ["a:rel"], command: ["x"]), "--copy-in a:rel: the guest path must be absolute"),
        (JobOptions(copyOut: [":b"], command: ["x"]), "--copy-out :b: expected SRC:DST"),
        (JobOptions(copyOut: ["rel:b"], command: ["x"]), "--copy-out rel:b: the guest path must be absolute"),
    ])
    func badOptionsNameTheProblem(options: JobOptions, message: String) {
        do {
            _ = try options.job()
            Issue.record("accepted: \(options)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func workdirUserAndCopies() throws {
        let options = JobOptions(workdir: "/srv", user: "1000:100", copyIn: ["host.txt:/tmp/in:x"], copyOut: ["/out:host/out"],
                                 command: ["true"])
        let job = try options.job()
        #expect(job.request.cwd == "/srv")
        #expect(job.request.uid == 1000 && job.request.gid == 100)
        #expect(job.copyIn == [SandboxJob.Copy(source: "host.txt", destination: "/tmp/in:x")])
        #expect(job.copyOut == [SandboxJob.Copy(source: "/out", destination: "host/out")])
        // GID defaults to the UID.
        let user = try JobOptions.parseUser("7")
        #expect(user.uid == 7 && user.gid == 7)
    }
}
