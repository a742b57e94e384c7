import AgentProtocol
import CAgent
import Glibc
import Synchronization

/// The children sessions started, and who reaps them.
///
/// As PID 1 the agent must also reap orphans it never started (`runOrphanReaper`), which races
/// with sessions collecting their own child's status. Both reap only while holding the lock, and
/// a child is registered under the same lock it is forked under, so a status is either collected
/// by its session or parked in `exited` for it — never lost to the orphan reaper.
public final class ChildRegistry: Sendable {
    private struct State: ~Copyable {
        var owned: Set<pid_t> = []
        var exited: [pid_t: Int32] = [:]
    }

    private let state = Mutex(State())
    // The orphan reaper sleeps on this pipe while the agent has no children at all.
    private let wakeRead: Int32
    private let wakeWrite: Int32

    public init() {
        var fds: [Int32] = [-1, -1]
        if kiln_agent_pipe(&fds) == 0 {
            // The reader blocks; only the writer must never block.
            _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    /// A started child: its pid and a pidfd that polls readable once it has terminated.
    public struct Child: Sendable {
        public let pid: pid_t
        public let pidfd: Int32
    }

    /// Forks and execs (see kiln_agent_spawn). Throws the errno that kept the command from starting.
    /// `options` are an extended exec's groups, limits and cwd creation (kiln_agent_spawn_with).
    public func spawn(argv: [String], env: [String], cwd: String?, uid: UInt32, gid: UInt32,
                      stdin: Int32, stdout: Int32, stderr: Int32,
                      options: SpawnOptions = SpawnOptions()) throws(AgentError) -> Child {
        let cArgv = CStringArray(argv)
        let cEnv = CStringArray(env)
        defer { cArgv.free(); cEnv.free() }
        // Built before fork: the child may not allocate.
        let limits = options.limits.map { kiln_agent_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }
        let groups = options.groups
        let result: Result<Child, AgentError> = state.withLock { state in
            var pid: pid_t = 0
            let err: Int32 = groups.withUnsafeBufferPointer { groupBuffer in
                limits.withUnsafeBufferPointer { limitBuffer in
                    var extras = kiln_agent_spawn_extras(groups: groupBuffer.baseAddress, group_count: groupBuffer.count,
                                                         limits: limitBuffer.baseAddress, limit_count: limitBuffer.count,
                                                         make_cwd: options.makeCwd ? 1 : 0)
                    return withUnsafePointer(to: &extras) { extrasPointer in
                        let extrasArgument = options.isEmpty ? nil : extrasPointer
                        if let cwd {
                            return cwd.withCString {
                                kiln_agent_spawn_with(cArgv.pointers, cEnv.pointers, $0, uid, gid, stdin, stdout, stderr,
                                                      extrasArgument, &pid)
                            }
                        }
                        return kiln_agent_spawn_with(cArgv.pointers, cEnv.pointers, nil, uid, gid, stdin, stdout, stderr,
                                                     extrasArgument, &pid)
                    }
                }
            }
            guard err == 0 else { return .failure(.spawn(command: argv[0], errno: err)) }
            // Opened under the lock: the child cannot have been reaped yet, so pid is still ours.
            let pidfd = kiln_agent_pidfd_open(pid)
            guard pidfd >= 0 else {
                let e = errno
                kill(pid, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(pid, &status, 0)
                return .failure(.system(operation: "pidfd_open", errno: e))
            }
            state.owned.insert(pid)
            return .success(Child(pid: pid, pidfd: pidfd))
        }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        return try result.get()
    }

    /// Sends `number` to the child's process group (it leads one) and, if the group is gone, to
    /// the child itself, but the child only while its pid is still ours: owned and not yet
    /// reaped, checked under the lock the reaper and `collect` take. A reaped child's pid can
    /// belong to any other process (or thread: kill on a thread id hits its whole process),
    /// which must never get the signal; its group id stays reserved while members of the group
    /// live, so the group (background processes the command left) is still signalled.
    public func signal(_ pid: pid_t, _ number: Int32) {
        state.withLock { state in
            guard kill(-pid, number) != 0, state.owned.contains(pid), state.exited[pid] == nil else { return }
            _ = kill(pid, number)
        }
    }

    /// The wait status of a terminated child (after its pidfd polled readable), nil if it is
    /// still running. Removes the child from the registry once its status is returned.
    public func collect(_ pid: pid_t) -> Int32? {
        state.withLock { state in
            if let status = state.exited.removeValue(forKey: pid) {
                state.owned.remove(pid)
                return status
            }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
            state.owned.remove(pid)
            return status
        }
    }

    /// PID 1's reaper loop (runs on its own thread, never returns): reaps every zombie; the status
    /// of a session's child is kept for that session.
    public func runOrphanReaper() -> Never {
        while true {
            let pid = kiln_agent_peek_exited_child()
            if pid <= 0 {
                if errno == ECHILD {
                    var byte: UInt8 = 0
                    _ = read(wakeRead, &byte, 1)
                }
                continue
            }
            state.withLock { state in
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid, state.owned.contains(pid) {
                    state.exited[pid] = status
                }
            }
        }
    }
}

/// What an extended exec asks of the child beyond argv, env, cwd and ids.
public struct SpawnOptions: Sendable {
    public var groups: [UInt32] = []
    public var limits: [ResourceLimit] = []
    public var makeCwd = false

    public init(groups: [UInt32] = [], limits: [ResourceLimit] = [], makeCwd: Bool = false) {
        self.groups = groups
        self.limits = limits
        self.makeCwd = makeCwd
    }

    var isEmpty: Bool { groups.isEmpty && limits.isEmpty && !makeCwd }
}

/// A NULL-terminated `char *[]` built from Swift strings (freed explicitly).
struct CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>

    init(_ strings: [String]) {
        pointers = .allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { pointers[i] = strdup(s) }
        pointers[strings.count] = nil
    }

    func free() {
        var i = 0
        while let p = pointers[i] { Glibc.free(p); i += 1 }
        pointers.deallocate()
    }
}

