import Glibc

/// Runs a helper program (skopeo) to completion: its stdout handed over line by line (progress),
/// its stderr kept in a file for the error line. No Foundation `Process`: posix_spawn is enough
/// and keeps the library's dependencies small.
enum ToolProcess {
    struct Outcome {
        let status: Int32
        let stderr: String
    }

    /// `inherited` is passed to the child as its descriptor 3 (so it outlives close-on-exec).
    static func run(_ executable: String, _ arguments: [String], errorFile: String, inherited: Int32? = nil,
                    lines: (String) -> Void) throws(ImageError) -> Outcome {
        var pipeEnds: [Int32] = [0, 0]
        // pipe2 is not visible from Glibc's module; close-on-exec right after, so only this
        // child inherits the write end (through its dup2).
        guard pipe(&pipeEnds) == 0 else { throw .system("pipe", executable) }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let errorFd = open(errorFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard errorFd >= 0 else {
            close(pipeEnds[0]); close(pipeEnds[1])
            throw .system("create", errorFile)
        }
        defer { unlink(errorFile) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorFd, 2)
        // Through a copy numbered 10 or above: a dup2 onto its own number would keep close-on-exec.
        let passed = inherited.map { fcntl($0, F_DUPFD_CLOEXEC, 10) } ?? -1
        defer { if passed >= 0 { close(passed) } }
        if passed >= 0 { posix_spawn_file_actions_adddup2(&actions, passed, 3) }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, executable, &actions, nil, argv, environ)
        close(pipeEnds[1])
        close(errorFd)
        guard spawned == 0 else {
            close(pipeEnds[0])
            throw .system(operation: "spawn", path: executable, errno: spawned)
        }
        readLines(pipeEnds[0], lines)
        close(pipeEnds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw .system("waitpid", executable) }
        }
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let errorText = (try? FileBytes.read(errorFile, limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return Outcome(status: exitStatus, stderr: errorText)
    }

    /// Splits on `\n` and `\r` (skopeo redraws its progress bars with carriage returns).
    private static func readLines(_ fd: Int32, _ lines: (String) -> Void) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            for byte in buffer[0..<count] {
                if byte == 0x0a || byte == 0x0d {
                    if !pending.isEmpty { lines(String(decoding: pending, as: UTF8.self)) }
                    pending.removeAll(keepingCapacity: true)
                } else if pending.count < 4096 {
                    pending.append(byte)
                }
            }
        }
        if !pending.isEmpty { lines(String(decoding: pending, as: UTF8.self)) }
    }
}
