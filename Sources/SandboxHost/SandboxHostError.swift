import Glibc

/// Why a host-side sandbox operation (run directory, sandbox state, VMM process, TAP) failed.
/// Each case prints as one line; the CLI adds "kiln: error: " and picks the exit code.
public enum SandboxHostError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call on `path` failed (`operation` names it: "mkdtemp", "open", "spawn"...).
    case system(operation: String, path: String, errno: Int32)
    /// `path` is not something kiln may touch: not a directory or file owned by kiln's
    /// effective uid (and private), or a symbolic link.
    case notOwned(path: String, reason: String)
    /// The VMM's vsock socket `path` would not fit a Unix socket address ($TMPDIR too long).
    case socketPathTooLong(path: String, limit: Int)
    case badSandboxName(name: String, problem: String)
    case sandboxExists(name: String, state: SandboxRecord.State)
    case noSandbox(name: String)
    case tap(HostTapError)
    /// Two files the jail holds (kernel, rootfs, agent initrd, scratch disk) share a file name.
    case sameFileName(String)
    case jailAsRoot
    case scratchDisk(ScratchDiskError)
    /// kiln itself is dynamically linked, so it cannot run in the jail (no shared libraries there).
    case dynamicallyLinked(path: String)
    /// A directory image is mounted by the agent initramfs; without one nothing would.
    case directoryImageNeedsAgentInitrd
    /// The VMM's API socket at `path` answered badly or not in time.
    case control(path: String, problem: String)
    /// `kiln snapshot` or `--from`: what cannot be done with this sandbox or snapshot, and why.
    case snapshot(String)

    public var description: String {
        switch self {
        case let .system(operation, path, errno):
            "\(operation) \(path): \(String(cString: strerror(errno)))"
        case let .notOwned(path, reason):
            "\(path): \(reason)"
        case let .socketPathTooLong(path, limit):
            "the VMM's socket path \(path) is \(path.utf8.count) bytes, more than a Unix socket address holds "
                + "(\(limit)); set TMPDIR to a shorter directory"
        case let .badSandboxName(name, problem):
            "sandbox name '\(name)': \(problem)"
        case let .sandboxExists(name, state):
            "sandbox \(name) already exists (\(state)); remove it with `kiln rm \(name)`"
        case let .noSandbox(name):
            "no sandbox named \(name) (see `kiln ls`)"
        case let .tap(error):
            "--net: \(error)"
        case let .sameFileName(name):
            "the kernel, rootfs and agent initrd must have different file names (\(name) twice); the jail holds them by name"
        case let .scratchDisk(error):
            error.description
        case .jailAsRoot:
            "--jail-uid/--jail-gid 0: the jailed VMM must not run as root"
        case let .dynamicallyLinked(path):
            "\(path) is dynamically linked and cannot run in kiln-jailer's jail; build it with "
                + "`swift build -c release --static-swift-stdlib -Xswiftc -static-executable` or pass --no-jail"
        case .directoryImageNeedsAgentInitrd:
            "a root directory served over virtio-fs needs kiln's agent initramfs (install one with `kiln setup` or set $KILN_AGENT_INITRD)"
        case let .control(path, problem):
            "the VMM's API socket \(path): \(problem)"
        case let .snapshot(problem):
            problem
        }
    }
}
