/// Where a jail lives on the host: `<base>/<exec name>/<id>/root` is the VMM's `/`.
/// The directory for one jail is `<base>/<exec name>/<id>`; removing it removes the jail.
public struct JailLayout: Equatable, Sendable {
    public let execName: String
    /// `<base>/<exec name>`, shared by every jail of that executable.
    public let execDirectory: String
    /// `<base>/<exec name>/<id>`.
    public let jailDirectory: String
    /// `<base>/<exec name>/<id>/root`: the VMM's root after pivot_root.
    public let root: String

    public init(_ config: JailConfig) {
        execName = baseName(config.execFile)
        execDirectory = config.chrootBaseDir + "/" + execName
        jailDirectory = execDirectory + "/" + config.id
        root = jailDirectory + "/root"
    }

    /// The executable as the jailed process sees it.
    public var execPathInJail: String { "/" + execName }
    /// Written in the jail root with `--new-pid-ns`: the VMM's pid as the host sees it.
    public var pidFileName: String { execName + ".pid" }

    /// Character devices the VM needs, created in the jail owned by uid:gid.
    public struct DeviceNode: Equatable, Sendable {
        public let path: String
        public let major: UInt32
        public let minor: UInt32
    }

    public static let deviceNodes = [
        DeviceNode(path: "dev/kvm", major: 10, minor: 232),
        DeviceNode(path: "dev/net/tun", major: 10, minor: 200),
        DeviceNode(path: "dev/urandom", major: 1, minor: 9),
    ]
}
