import Glibc

/// Runs a host tool (ip, tc) to completion with its output in a file: posix_spawn, no shell.
public enum HostCommand {
    /// The exit status (128+N when killed by signal N).
    public static func run(_ argv: [String], output: String) throws(OCIRuntimeError) -> Int32 {
        let log = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw .system(operation: "create", path: output, errno: errno) }
        defer { close(log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        let cArgv = argv.map { strdup($0) } + [nil]
        defer { cArgv.forEach { free($0) } }
        var pid: pid_t = 0
        let err = posix_spawnp(&pid, argv[0], &actions, nil, cArgv, environ)
        guard err == 0 else { throw .system(operation: "spawn", path: argv[0], errno: err) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw .system(operation: "waitpid", path: argv[0], errno: errno) }
        }
        // WIFEXITED / WEXITSTATUS by hand: the macros are not importable.
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}
