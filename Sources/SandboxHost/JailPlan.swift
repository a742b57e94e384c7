import Glibc

/// Running as root, `kiln run` and `kiln create` start their VMM through kiln-jailer (found next
/// to kiln): chroot, mount and user namespaces' worth of isolation, an unprivileged uid, no
/// capabilities. The jail is built under the run's (or sandbox's) own directory, so removing
/// that directory removes the jail.
public struct JailPlan: Sendable {
    public let jailer: String
    public let execFile: String
    public let id: String
    public let uid: UInt32
    public let gid: UInt32
    /// --chroot-base-dir: the jail root is `<base>/kiln/<id>/root`.
    public let base: String

    public var root: String { "\(base)/kiln/\(id)/root" }

    /// The jail to use, or nil when kiln is not root, `enabled` is false (--no-jail) or there
    /// is no kiln-jailer next to kiln. A kiln that is not statically linked cannot run in a
    /// jail (it holds no shared libraries): that throws.
    public static func make(id: String, base: String, uid: UInt32, gid: UInt32, enabled: Bool) throws(SandboxHostError) -> JailPlan? {
        guard geteuid() == 0, enabled else { return nil }
        let kiln = try HostExecutable.kiln()
        let jailer = HostExecutable.directory(of: kiln) + "/kiln-jailer"
        guard access(jailer, X_OK) == 0 else { return nil }
        guard uid != 0, gid != 0 else { throw .jailAsRoot }
        guard HostExecutable.isStaticELF(kiln) else { throw .dynamicallyLinked(path: kiln) }
        return JailPlan(jailer: jailer, execFile: kiln, id: id, uid: uid, gid: gid, base: base)
    }

    /// The jailer's command line around `kiln` ARGS: the files are copied into the jail root
    /// (--copy-in) or bind-mounted there read-only (--bind-in), so ARGS name them as
    /// `/<file name>`.
    /// Directories (`bindInDirectories`) appear read-only at `sharedDirectoryPath(N)`.
    public func argv(copyIn: [String], bindIn: [String] = [], bindInDirectories: [String] = [],
                     kilnArguments: [String]) -> [String] {
        var argv = [jailer, "--id", id, "--exec-file", execFile, "--uid", "\(uid)", "--gid", "\(gid)", "--chroot-base-dir", base]
        argv += copyIn.flatMap { ["--copy-in", $0] }
        argv += bindIn.flatMap { ["--bind-in", $0] }
        argv += bindInDirectories.flatMap { ["--bind-in-dir", $0] }
        // The file servers read what root in the guest may (a container's 0600 files); kiln
        // keeps the capability on its device thread alone (VMM's ThreadCapabilities).
        if !bindInDirectories.isEmpty { argv.append("--keep-dac-read-search") }
        if let openFiles = Self.openFileLimit(sharedDirectories: bindInDirectories.count, hardLimit: Self.openFileHardLimit()) {
            argv += ["--resource-limit", "no-file=\(openFiles)"]
        }
        return argv + ["--"] + kilnArguments
    }

    /// The VMM serves each shared directory with a virtio-fs file server that holds one host
    /// descriptor per inode the guest knows (up to 16384) and per open handle (up to 1024),
    /// sized to fit RLIMIT_NOFILE (VMM's SharedDirectoryConfig.limits) after 256 of its own.
    /// Under the jailer's default of 2048 a share got ~1,570 inodes, and a guest walking a
    /// Debian root (8,731 files) got ENFILE part way: so a jail with shares asks for room
    /// for the file servers' full tables, within the hard limit the jailer inherits (it cannot
    /// raise that), and never below its own default of 2048. Nil without shares (the jailer's
    /// default stays) or when the hard limit leaves nothing above that default.
    static func openFileLimit(sharedDirectories count: Int, hardLimit: UInt64) -> Int? {
        guard count > 0 else { return nil }
        let wanted = 256 + count * (16384 + 1024)
        let allowed = hardLimit >= UInt64(wanted) ? wanted : Int(hardLimit)
        return allowed > 2048 ? allowed : nil
    }

    static func openFileHardLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        return UInt64(limit.rlim_max)
    }

    /// Where kiln-jailer puts the `index`-th `--bind-in-dir` directory (its JailConfig's rule).
    public static func sharedDirectoryPath(_ index: Int) -> String { "/share\(index)" }
}
