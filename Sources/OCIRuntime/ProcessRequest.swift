import AgentProtocol

extension OCIProcess {
    /// The agent's exec request: the config's environment exactly (the agent searches PATH from
    /// it, else its default), numeric uid/gid (root is 0/0, not "keep"), stdin always attached
    /// (the relay's own stdin: the engine's pipe, /dev/null, or the pty).
    public var execRequest: ExecRequest {
        ExecRequest(argv: args, env: env, cwd: cwd, uid: uid, gid: gid, stdin: true)
    }

    /// What the config asks for that the agent cannot apply yet (protocol version 1 has no
    /// rlimits, supplementary groups or terminal): logged as warnings at create and exec.
    public var unappliedSettings: [String] {
        var notes: [String] = []
        if !additionalGids.isEmpty { notes.append("process.user.additionalGids (the agent clears supplementary groups)") }
        if !rlimits.isEmpty { notes.append("process.rlimits (\(rlimits.map(\.type).joined(separator: ", ")))") }
        if terminal { notes.append("process.terminal: the pty is on the host; the guest command sees pipes") }
        return notes
    }
}
