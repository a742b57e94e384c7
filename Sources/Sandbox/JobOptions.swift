import AgentProtocol

/// What the user asked to run in the sandbox (`kiln run`, `exec`, `agent-exec` options), before
/// it becomes a `SandboxJob`: the CLI fills it from its arguments, `job()` checks it.
public struct JobOptions: Sendable, Equatable {
    /// `--env NAME=VALUE`, in order; a later one replaces an earlier one of the same name.
    public var env: [String]
    public var workdir: String?
    /// `--user UID[:GID]` (names only with an image: `ImageJob` resolves them).
    public var user: String?
    public var copyIn: [String]
    public var copyOut: [String]
    public var command: [String]

    public init(env: [String] = [], workdir: String? = nil, user: String? = nil, copyIn: [String] = [],
                copyOut: [String] = [], command: [String] = []) {
        self.env = env
        self.workdir = workdir
        self.user = user
        self.copyIn = copyIn
        self.copyOut = copyOut
        self.command = command
    }

    /// The default PATH a command gets unless --env sets one.
    public static let defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The environment every command starts from, under --env.
    public static let baseEnvironment = [defaultPath, "HOME=/root", "TERM=dumb"]

    /// The job, or the first bad option.
    public func job() throws(JobOptionError) -> SandboxJob {
        guard let program = command.first, !program.isEmpty else { throw .noCommand }
        var environment = Self.baseEnvironment
        for entry in env {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw .badOption("--env", entry, "expected NAME=VALUE")
            }
            guard !entry.utf8.contains(0) else { throw .badOption("--env", entry, "contains a NUL byte") }
            let name = entry[..<eq]
            environment.removeAll { $0.hasPrefix(name + "=") }
            environment.append(entry)
        }
        if let workdir, !workdir.hasPrefix("/") { throw .badOption("--workdir", workdir, "must be an absolute guest path") }
        let (uid, gid) = try user.map(Self.parseUser) ?? (FrameLimits.keepID, FrameLimits.keepID)
        var job = SandboxJob(request: ExecRequest(argv: command, env: environment, cwd: workdir ?? "", uid: uid, gid: gid,
                                                  stdin: true))
        job.copyIn = try copyIn.map { spec throws(JobOptionError) in
            guard let copy = SandboxJob.Copy.parse(spec) else { throw .badOption("--copy-in", spec, "expected SRC:DST") }
            guard copy.destination.hasPrefix("/") else { throw .badOption("--copy-in", spec, "the guest path must be absolute") }
            return copy
        }
        job.copyOut = try copyOut.map { spec throws(JobOptionError) in
            guard let copy = SandboxJob.Copy.parse(spec) else { throw .badOption("--copy-out", spec, "expected SRC:DST") }
            guard copy.source.hasPrefix("/") else { throw .badOption("--copy-out", spec, "the guest path must be absolute") }
            return copy
        }
        return job
    }

    /// `UID` or `UID:GID`, decimal, below 2^32 - 1 (the protocol's "keep the agent's own").
    public static func parseUser(_ text: String) throws(JobOptionError) -> (uid: UInt32, gid: UInt32) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let ids = parts.map { part in UInt32(part).flatMap { $0 < FrameLimits.keepID ? $0 : nil } }
        guard (1...2).contains(parts.count), let uid = ids[0], let gid = parts.count == 2 ? ids[1] : uid else {
            throw .badOption("--user", text, "expected UID or UID:GID, numbers below \(FrameLimits.keepID)")
        }
        return (uid, gid)
    }
}

/// A bad `JobOptions`: one line naming the option and the problem.
public enum JobOptionError: Error, Equatable, Sendable, CustomStringConvertible {
    case noCommand
    case badOption(_ option: String, _ value: String, _ problem: String)

    public var description: String {
        switch self {
        case .noCommand: "no command: give it after --, e.g. kiln run -- uname -a"
        case let .badOption(option, value, problem): "\(option) \(value): \(problem)"
        }
    }
}
