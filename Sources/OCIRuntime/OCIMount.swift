/// One entry of config.json's `mounts`, and what kiln does with it: a file system the guest
/// makes itself, or a host path that has to be brought into the VM.
public struct OCIMount: Equatable, Sendable {
    public let destination: String
    public let type: String?
    public let source: String?
    public let options: [String]

    /// What the mount becomes in a kiln VM.
    public enum Plan: Equatable, Sendable {
        /// Made by the guest kernel (proc, sysfs, tmpfs, devpts, mqueue, cgroup).
        case guest(type: String, destination: String, options: [String])
        /// A host path bind-mounted into the container: served read-only (a directory through
        /// virtio-fs, a small file copied in at start).
        case bind(source: String, destination: String)
    }

    public static let guestTypes: Set<String> = ["proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2"]

    public var isBind: Bool { type == "bind" || options.contains("bind") || options.contains("rbind") }

    /// The plan for mounts[index]; unsupported types are refused by field.
    func plan(index: Int) throws(OCIConfigError) -> Plan {
        let field = "mounts[\(index)]"
        if isBind {
            guard let source, source.hasPrefix("/") else {
                throw .invalid(field: "\(field).source", problem: "a bind mount needs an absolute host path")
            }
            return .bind(source: source, destination: destination)
        }
        guard let type, Self.guestTypes.contains(type) else {
            throw .unsupported(field: "\(field).type", reason: "\(type ?? "(none)") mounts (kiln makes \(Self.guestTypes.sorted().joined(separator: ", ")) in the guest and shares host paths given as bind mounts)")
        }
        return .guest(type: type, destination: destination, options: options)
    }

    static func parse(_ value: JSONDocument, index: Int) throws(OCIConfigError) -> OCIMount {
        let fields = try JSONFields(path: "mounts[\(index)]", value)
        let destination = try fields.requiredString("destination")
        guard destination.hasPrefix("/"), !destination.split(separator: "/").contains("..") else {
            throw .invalid(field: fields.name("destination"), problem: "\(destination) is not an absolute path without '..'")
        }
        return OCIMount(destination: destination, type: try fields.string("type"), source: try fields.string("source"),
                        options: try fields.strings("options", limit: 256) ?? [])
    }
}
