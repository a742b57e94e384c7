#if canImport(Glibc)
import Glibc
#endif

/// Runs e2fsprogs' mke2fs on the (already created, empty) output file: an ext4 file system with
/// no journal and no resize inode (the image is read-only and never grows), 256-byte inodes so
/// xattrs and nanosecond/post-2038 times fit, and no reserved blocks.
enum MakeFilesystem {
    static let candidates = ["/usr/sbin/mke2fs", "/sbin/mke2fs"]

    static func run(path: String, kibibytes: Int64, inodes: Int64) throws(RootfsBuildError) {
        guard let tool = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw .makeFilesystem(path: path, reason: "mke2fs not found in /usr/sbin or /sbin")
        }
        let arguments = [tool, "-t", "ext4", "-F", "-q", "-b", "4096", "-I", "256", "-N", String(inodes),
                         "-m", "0", "-O", "^has_journal,^resize_inode", "-E", "root_owner=0:0",
                         path, "\(kibibytes)k"]
        // A fixed environment: the caller's MKE2FS_* variables must not change the image.
        let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]
        let status = spawnAndWait(arguments, environment: environment)
        guard status == 0 else {
            throw .makeFilesystem(path: path, reason: status < 0 ? "cannot start \(tool): \(SystemErrno.message(-status))"
                                                                 : "exit status \(status)")
        }
    }

    /// The child's exit status, 128+signal, or -errno when it could not be started.
    private static func spawnAndWait(_ arguments: [String], environment: [String]) -> Int32 {
        var cArguments = arguments.map { strdup($0) } + [nil]
        var cEnvironment = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in cArguments { free(pointer) }
            for pointer in cEnvironment { free(pointer) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // mke2fs is quiet with -q; its stdin must not be the caller's terminal.
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, &cArguments, &cEnvironment)
        guard spawned == 0 else { return -spawned }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -errno }
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
