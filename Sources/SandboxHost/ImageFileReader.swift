import CHost
import Glibc

/// Reads small files (the image's /etc/passwd and /etc/group, to resolve `User: name`) out of an
/// ext4 root filesystem image without mounting it: `debugfs -R 'cat PATH'` opens the image
/// read-only as an ordinary user, resolves paths inside the image only, and does not follow a
/// symlink at the last component (such a file reads as absent). The image is hostile: output past `limit` bytes and a debugfs that does not end
/// within `timeout` seconds make the read fail rather than grow or hang.
public enum ImageFileReader {
    public static let debugfs = "/usr/sbin/debugfs"

    /// The file's contents, or nil when the image has no such file (debugfs then prints nothing
    /// on stdout). Paths are absolute and must not hold characters debugfs would parse.
    public static func read(image: String, path: String, limit: Int = 1 << 20,
                            timeout: Double = 10) throws(SandboxHostError) -> [UInt8]? {
        guard path.hasPrefix("/"), path.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x22 && $0 != 0x27 && $0 != 0x5c && $0 < 0x7f }) else {
            throw .system(operation: "read from image (path with spaces, quotes or control characters)", path: path, errno: EINVAL)
        }
        var output: [Int32] = [-1, -1]
        guard kiln_host_pipe(&output) == 0 else { throw .system(operation: "pipe", path: image, errno: errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let argv = [debugfs, "-R", "cat \(path)", image]
        let cArgv = argv.map { strdup($0) } + [nil]
        defer { cArgv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, debugfs, &actions, nil, cArgv, [nil])
        close(output[1])
        defer { close(output[0]) }
        guard spawned == 0 else { throw .system(operation: "spawn", path: debugfs, errno: spawned) }

        var bytes: [UInt8] = []
        var failure: SandboxHostError?
        let deadline = monotonicSeconds() + timeout
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = Int32(max(0, (deadline - monotonicSeconds()) * 1000))
            var p = pollfd(fd: output[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, left)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { failure = .system(operation: "read \(path) from image (debugfs did not finish)", path: image, errno: ETIMEDOUT); break }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(output[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > limit { failure = .system(operation: "read \(path) from image (larger than \(limit) bytes)", path: image, errno: EFBIG); break }
        }
        if failure != nil { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if let failure { throw failure }
        let exitedZero = status & 0x7f == 0 && (status >> 8) & 0xff == 0
        guard exitedZero else { throw .system(operation: "read \(path) from image (debugfs failed)", path: image, errno: EIO) }
        return bytes.isEmpty ? nil : bytes
    }

    private static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
