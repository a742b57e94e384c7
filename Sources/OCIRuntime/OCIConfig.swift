import AgentProtocol

/// The parts of a bundle's config.json a kiln VM honours (runtime-spec 1.0-1.2, Linux). Parsing
/// is pure (no host files are looked at) so every rule is testable on crafted documents; what
/// the host has to provide (the rootfs directory, bind sources) is checked at `create`.
public struct OCIConfig: Equatable, Sendable {
    public enum NetworkNamespace: Equatable, Sendable {
        /// No network namespace entry: runc would share the host's; a VM gets no network.
        case host
        /// A new, empty namespace: the VM gets no network either.
        case new
        /// An existing namespace (the engine's CNI/netavark one): the VM's TAP goes into it.
        case path(String)
    }

    public var ociVersion: String
    public var process: OCIProcess
    public var rootPath: String
    public var rootReadonly: Bool
    public var hostname: String?
    public var mounts: [OCIMount]
    public var annotations: [String: String]
    public var resources: OCIResources
    public var network: NetworkNamespace

    public static let mountLimit = 1024

    public static func load(bundle: String) throws(OCIConfigError) -> OCIConfig {
        try load(path: bundle + "/config.json")
    }

    public static func load(path: String) throws(OCIConfigError) -> OCIConfig {
        try parse(BundleFile.read(path))
    }

    public static func parse(_ document: JSONDocument) throws(OCIConfigError) -> OCIConfig {
        let top = try JSONFields(path: "", document)
        let version = try top.requiredString("ociVersion")
        guard version.hasPrefix("1.") else { throw .unsupported(field: "ociVersion", reason: "\(version) (kiln reads 1.x)") }
        guard let processFields = try top.object("process") else { throw .missing(field: "process") }
        let process = try OCIProcess.parse(processFields)
        guard let root = try top.object("root") else { throw .missing(field: "root") }
        let rootPath = try root.requiredString("path")
        guard !rootPath.isEmpty else { throw .invalid(field: "root.path", problem: "empty") }
        let hostname = try top.string("hostname")
        // The guest's name travels on its kernel command line (kiln.hostname=).
        if let hostname, !hostname.isEmpty, let problem = GuestHostname.problem(hostname) {
            throw .invalid(field: "hostname", problem: problem)
        }
        let mountValues = try top.array("mounts") ?? []
        guard mountValues.count <= mountLimit else { throw .invalid(field: "mounts", problem: "more than \(mountLimit) entries") }
        var mounts: [OCIMount] = []
        for (index, value) in mountValues.enumerated() {
            let mount = try OCIMount.parse(value, index: index)
            _ = try mount.plan(index: index)
            mounts.append(mount)
        }
        let linux = try top.object("linux")
        let resources = try linux?.object("resources").map(OCIResources.parse) ?? OCIResources()
        return OCIConfig(ociVersion: version, process: process, rootPath: rootPath,
                         rootReadonly: try root.bool("readonly") ?? false, hostname: hostname, mounts: mounts,
                         annotations: try top.stringMap("annotations") ?? [:], resources: resources,
                         network: try linux.map(Self.network) ?? .host)
    }

    private static func network(_ linux: JSONFields) throws(OCIConfigError) -> NetworkNamespace {
        var result = NetworkNamespace.host
        for (index, value) in (try linux.array("namespaces") ?? []).enumerated() {
            let namespace = try JSONFields(path: linux.name("namespaces[\(index)]"), value)
            let type = try namespace.requiredString("type")
            let known = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"]
            guard known.contains(type) else { throw .invalid(field: namespace.name("type"), problem: "unknown namespace type \(type)") }
            guard type == "network" else { continue }   // the VM is every other namespace already
            guard result == .host else { throw .invalid(field: namespace.name("type"), problem: "network given twice") }
            if let path = try namespace.string("path") {
                guard path.hasPrefix("/") else { throw .invalid(field: namespace.name("path"), problem: "\(path) is not an absolute path") }
                result = .path(path)
            } else {
                result = .new
            }
        }
        return result
    }

    /// The mounts' plans, in order (each was checked when parsed).
    public var mountPlans: [OCIMount.Plan] {
        mounts.enumerated().compactMap { index, mount in try? mount.plan(index: index) }
    }
}
