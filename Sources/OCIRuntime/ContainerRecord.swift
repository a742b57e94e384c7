import Glibc
import SandboxHost

/// What `create` records about a container in `container.json` under its state directory, read
/// back by every later command. Written once, atomically (FileText: temporary file + rename).
public struct ContainerRecord: Equatable, Sendable {
    public var id: String
    public var bundle: String
    /// RFC 3339, for `state` and `list`.
    public var created: String
    public var annotations: [String: String]
    /// The relay process: the container's pid as the engine sees it.
    public var relay: ProcessIdentity
    public var vmm: ProcessIdentity
    /// The network namespace the VM's TAP went into, if any (delete removes the TAP there).
    public var netns: String?

    public init(id: String, bundle: String, created: String, annotations: [String: String], relay: ProcessIdentity,
                vmm: ProcessIdentity, netns: String?) {
        self.id = id
        self.bundle = bundle
        self.created = created
        self.annotations = annotations
        self.relay = relay
        self.vmm = vmm
        self.netns = netns
    }

    public var json: String {
        var members: [(String, JSONOutput)] = [
            ("id", .string(id)), ("bundle", .string(bundle)), ("created", .string(created)),
            ("annotations", .map(annotations)),
            ("relay", .string("\(relay.pid) \(relay.startTime)")), ("vmm", .string("\(vmm.pid) \(vmm.startTime)")),
        ]
        if let netns { members.append(("netns", .string(netns))) }
        return JSONOutput.object(members).serialized() + "\n"
    }

    /// Parses container.json; nil when it is not one kiln-oci wrote.
    public static func parse(_ text: String) -> ContainerRecord? {
        guard let document = try? JSONDocument.parse(Array(text.utf8)),
              let fields = try? JSONFields(path: "", document),
              let id = try? fields.requiredString("id"), let bundle = try? fields.requiredString("bundle"),
              let created = try? fields.requiredString("created"),
              let relay = (try? fields.requiredString("relay")).flatMap(ProcessIdentity.init(text:)),
              let vmm = (try? fields.requiredString("vmm")).flatMap(ProcessIdentity.init(text:)),
              let annotations = try? fields.stringMap("annotations") else { return nil }
        return ContainerRecord(id: id, bundle: bundle, created: created, annotations: annotations ?? [:], relay: relay,
                               vmm: vmm, netns: try? fields.string("netns"))
    }
}
