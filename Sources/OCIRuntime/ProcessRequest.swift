import AgentProtocol

extension OCIProcess {
    /// The agent's exec request: the config's environment exactly (the agent searches PATH from
    /// it, else its default), numeric uid/gid (root is 0/0, not "keep"), the additional gids and
    /// rlimits, stdin always attached (the relay's own stdin: the engine's pipe, /dev/null, or
    /// the pty). `makeCwd` for the container's init process: runc creates a missing working
    /// directory there (containerd leaves that to the runtime), but not for `exec`.
    public func execRequest(makeCwd: Bool) -> ExecRequest {
        var request = ExecRequest(argv: args, env: env, cwd: cwd, uid: uid, gid: gid, stdin: true)
        request.groups = additionalGids
        // Every name was checked against the table when the config was read.
        request.limits = rlimits.compactMap { limit in
            Self.rlimitNumbers[limit.type].map { ResourceLimit(resource: $0, soft: limit.soft, hard: limit.hard) }
        }
        request.makeCwd = makeCwd
        return request
    }

    /// Linux's resource numbers (asm-generic/resource.h; the same on x86_64).
    static let rlimitNumbers: [String: UInt32] = [
        "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
        "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
        "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
        "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
    ]

    /// What the config asks for that the guest does not apply: logged as warnings at create
    /// and exec.
    public var unappliedSettings: [String] {
        terminal ? ["process.terminal: the pty is on the host; the guest command sees pipes"] : []
    }
}
