import AgentProtocol
import ArgumentParser
import Sandbox

/// What runs inside the sandbox: shared by `kiln run` and `kiln agent-exec`.
struct SandboxOptions: ParsableArguments {
    @Option(name: .customLong("env"), help: ArgumentHelp("Environment variable for the command (repeatable).", valueName: "K=V"))
    var env: [String] = []

    @Option(help: ArgumentHelp("Working directory of the command in the guest.", valueName: "dir"))
    var workdir: String?

    @Option(help: ArgumentHelp("Run the command as this guest user: UID or UID:GID (GID defaults to UID). With --image also names from the image's /etc/passwd and /etc/group, and a UID's GID from its /etc/passwd (else 0), as Docker does. Default: the image's User, else root.",
                               valueName: "user[:group]"))
    var user: String?

    @Option(name: .customLong("copy-in"),
            help: ArgumentHelp("Copy a host file into the guest before the command (repeatable).", valueName: "src:dst"))
    var copyIn: [String] = []

    @Option(name: .customLong("copy-out"),
            help: ArgumentHelp("Copy a guest file to the host after the command (repeatable).", valueName: "src:dst"))
    var copyOut: [String] = []

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.", valueName: "cmd"))
    var command: [String] = []

    /// The default PATH a command gets unless --env sets one.
    static let defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The job, or a one-line error naming the bad option (exit 125).
    func job() -> SandboxJob {
        guard !command.isEmpty, !command[0].isEmpty else { fail("no command: give it after --, e.g. kiln run -- uname -a") }
        var environment = [Self.defaultPath, "HOME=/root", "TERM=\(terminalName())"]
        for entry in env {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else { fail("--env \(entry): expected NAME=VALUE") }
            guard !entry.utf8.contains(0) else { fail("--env \(entry): contains a NUL byte") }
            let name = entry[..<eq]
            environment.removeAll { $0.hasPrefix(name + "=") }
            environment.append(entry)
        }
        if let workdir, !workdir.hasPrefix("/") { fail("--workdir \(workdir): must be an absolute guest path") }
        let (uid, gid) = user.map(Self.parseUser) ?? (FrameLimits.keepID, FrameLimits.keepID)
        var job = SandboxJob(request: ExecRequest(argv: command, env: environment, cwd: workdir ?? "", uid: uid, gid: gid,
                                                  stdin: true))
        job.copyIn = copyIn.map { spec in
            guard let copy = SandboxJob.Copy.parse(spec) else { fail("--copy-in \(spec): expected SRC:DST") }
            guard copy.destination.hasPrefix("/") else { fail("--copy-in \(spec): the guest path must be absolute") }
            return copy
        }
        job.copyOut = copyOut.map { spec in
            guard let copy = SandboxJob.Copy.parse(spec) else { fail("--copy-out \(spec): expected SRC:DST") }
            guard copy.source.hasPrefix("/") else { fail("--copy-out \(spec): the guest path must be absolute") }
            return copy
        }
        return job
    }

    private func terminalName() -> String { "dumb" }

    /// `UID` or `UID:GID`, decimal, below 2^32 - 1 (the protocol's "keep the agent's own").
    static func parseUser(_ text: String) -> (uid: UInt32, gid: UInt32) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let ids = parts.map { part in UInt32(part).flatMap { $0 < FrameLimits.keepID ? $0 : nil } }
        guard (1...2).contains(parts.count), let uid = ids[0], let gid = parts.count == 2 ? ids[1] : uid else {
            fail("--user \(text): expected UID or UID:GID, numbers below \(FrameLimits.keepID)")
        }
        return (uid, gid)
    }
}

/// How `kiln run` reports the command: its code, 128+N for signal N; 127/126 when it could not
/// start (not found / other), as a shell does.
func commandStartFailureCode(_ error: SandboxError) -> Int32? {
    guard case .agent(let code, let message) = error, message.hasPrefix("cannot run ") else { return nil }
    return code == 2 ? 127 : 126
}
