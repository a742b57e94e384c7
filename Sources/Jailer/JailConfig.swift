/// Everything `kiln-jailer` was asked to do, validated: ids and paths are well-formed, numbers
/// in range, and every `--cgroup` / `--resource-limit` parsed. Build with `JailConfig.validate`.
public struct JailConfig: Equatable, Sendable {
    public enum CgroupVersion: Int, Sendable { case v1 = 1, v2 = 2 }

    public var id: String
    public var execFile: String
    public var uid: UInt32
    public var gid: UInt32
    public var chrootBaseDir: String
    public var netns: String?
    public var daemonize: Bool
    public var newPidNamespace: Bool
    public var cgroupVersion: CgroupVersion
    public var cgroups: [CgroupSetting]
    /// Relative path of the cgroup the jail's group is created in; the exec file's name by default.
    public var parentCgroup: String
    public var resourceLimits: [ResourceLimit]
    /// Host files copied into the jail root (owned by uid:gid) before `kiln` starts.
    public var copyIn: [String]
    /// Host files bind-mounted read-only into the jail root (images: shared, never copied,
    /// and read-only for the VMM whatever the file's own mode).
    public var bindIn: [String] = []
    /// Host directories bind-mounted read-only (nosuid, nodev, noexec) at `/share<N>`, N their
    /// index: the VMM's virtio-fs shares. nodev also closes the rename race the file server
    /// cannot see (a device node moved in after its type was checked).
    public var bindInDirectories: [String] = []
    /// The VMM keeps CAP_DAC_READ_SEARCH (permitted, effective, inheritable and ambient, the
    /// bounding set reduced to it) so its virtio-fs servers read root-only files of the shared
    /// directories; the VMM confines it to its device thread (VMM's ThreadCapabilities).
    public var keepDacReadSearch = false
    /// Arguments after `--`, passed to the executable.
    public var execArguments: [String]

    public static let defaultChrootBaseDir = "/srv/jailer"

    /// Where the `index`-th `--bind-in-dir` directory appears in the jail.
    public static func sharedDirectoryPath(_ index: Int) -> String { "/share\(index)" }
}

/// `--cgroup FILE=VALUE`: the controller is the part of FILE before the first '.'.
public struct CgroupSetting: Equatable, Sendable {
    public let file: String
    public let value: String
    public init(file: String, value: String) {
        self.file = file
        self.value = value
    }
    public var controller: Substring { file.prefix { $0 != "." } }
}

/// `--resource-limit fsize=N` or `no-file=N`.
public struct ResourceLimit: Equatable, Sendable {
    public enum Resource: String, Sendable, CaseIterable {
        case fsize
        case noFile = "no-file"
    }
    public let resource: Resource
    public let value: UInt64
    public init(resource: Resource, value: UInt64) {
        self.resource = resource
        self.value = value
    }
}
