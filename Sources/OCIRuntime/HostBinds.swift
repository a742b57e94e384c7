import AgentProtocol
import Glibc
import Sandbox
import SandboxHost

/// The bind mounts of a config, sorted by what the host has at their sources: small regular
/// files (podman's /etc/hosts, /etc/resolv.conf, /etc/hostname, /run/.containerenv) are copied
/// into the guest before the process starts, a read-only snapshot; directories become read-only
/// virtio-fs shares. Anything else (sockets, devices, FIFOs) cannot cross into a VM.
public struct HostBinds: Equatable, Sendable {
    public var files: [SandboxJob.Copy] = []
    public var directories: [SandboxJob.Copy] = []
    /// Binds onto the guest's own /dev (podman's /dev/shm): the guest kernel's devtmpfs is the
    /// VM's /dev, and a host tmpfs shared read-only would only break the container's shm.
    public var leftToTheGuest: [String] = []

    /// The directories as the VMM's virtio-fs shares (kiln's own tags, in order).
    public var shares: [HostShare] {
        directories.enumerated().map { HostShare(hostPath: $1.source, guestPath: $1.destination, tag: "kiln-share\($0)") }
    }

    /// A file bind mount larger than this is refused: it is copied, not shared.
    public static let fileLimit: Int64 = 1 << 20

    public struct Kind: Equatable, Sendable {
        public let isDirectory: Bool
        public let isRegular: Bool
        public let size: Int64
        public init(isDirectory: Bool, isRegular: Bool, size: Int64) {
            self.isDirectory = isDirectory
            self.isRegular = isRegular
            self.size = size
        }
    }

    /// `inspect` says what a host path is (nil: it does not exist); `stat` follows links, as the
    /// kernel's bind mount does.
    public static func classify(_ config: OCIConfig,
                                inspect: (String) -> Kind? = HostBinds.inspect) throws(OCIConfigError) -> HostBinds {
        var binds = HostBinds()
        for (index, mount) in config.mounts.enumerated() {
            guard case .bind(let source, let destination) = try mount.plan(index: index) else { continue }
            let field = "mounts[\(index)].source"
            if destination == "/dev" || destination.hasPrefix("/dev/") {
                binds.leftToTheGuest.append(destination)
                continue
            }
            guard let kind = inspect(source) else { throw .invalid(field: field, problem: "\(source) does not exist") }
            let copy = SandboxJob.Copy(source: source, destination: destination)
            if kind.isDirectory {
                if let problem = GuestMount.pathProblem(destination) {
                    throw .invalid(field: "mounts[\(index)].destination", problem: "\(destination) \(problem)")
                }
                binds.directories.append(copy)
            } else if kind.isRegular {
                guard kind.size <= fileLimit else {
                    throw .unsupported(field: field, reason: "file bind mount \(source) is \(kind.size) bytes; files are copied in, at most \(fileLimit)")
                }
                binds.files.append(copy)
            } else {
                throw .unsupported(field: field, reason: "\(source) is not a regular file or directory (sockets, devices and FIFOs cannot reach a VM)")
            }
        }
        return binds
    }

    public static func inspect(_ path: String) -> Kind? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let type = info.st_mode & S_IFMT
        return Kind(isDirectory: type == S_IFDIR, isRegular: type == S_IFREG, size: Int64(info.st_size))
    }
}
