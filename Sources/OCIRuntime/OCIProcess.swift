/// `process` of config.json, or the whole of `kiln-oci exec --process FILE`: what runs in the
/// guest and how. Limits follow the agent protocol (docs/agent-protocol.md): a request that
/// could not be encoded is refused here, by field, not later by the encoder.
public struct OCIProcess: Equatable, Sendable {
    public struct Rlimit: Equatable, Sendable {
        public let type: String
        public let soft: UInt64
        public let hard: UInt64
    }

    public var terminal = false
    public var args: [String]
    public var env: [String] = []
    public var cwd: String
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var additionalGids: [UInt32] = []
    public var rlimits: [Rlimit] = []
    public var noNewPrivileges = false

    /// The agent protocol's list limit (argv and env entries each).
    public static let listLimit = 4096
    /// Arguments and environment together must fit one 1 MiB exec frame with room for the rest.
    public static let requestBytesLimit = 1_000_000
    /// The rlimits Linux knows (prlimit(1) names, as the OCI spec writes them).
    public static var rlimitTypes: Set<String> { Set(rlimitNumbers.keys) }

    public init(args: [String], cwd: String = "/") {
        self.args = args
        self.cwd = cwd
    }

    /// Reads a process object at `path` ("process" in config.json, "" for process.json).
    static func parse(_ fields: JSONFields) throws(OCIConfigError) -> OCIProcess {
        guard let args = try fields.strings("args", limit: listLimit), !args.isEmpty else {
            throw .missing(field: fields.name("args"))
        }
        guard !args[0].isEmpty else { throw .invalid(field: fields.name("args[0]"), problem: "empty") }
        let cwd = try fields.requiredString("cwd")
        guard cwd.hasPrefix("/") else { throw .invalid(field: fields.name("cwd"), problem: "\(cwd) is not an absolute path") }
        var process = OCIProcess(args: args, cwd: cwd)
        process.terminal = try fields.bool("terminal") ?? false
        process.env = try fields.strings("env", limit: listLimit) ?? []
        for (index, entry) in process.env.enumerated() {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw .invalid(field: fields.name("env[\(index)]"), problem: "expected NAME=VALUE")
            }
        }
        for (name, list) in [("args", process.args), ("env", process.env)] {
            for (index, entry) in list.enumerated() where entry.utf8.contains(0) {
                throw .invalid(field: fields.name("\(name)[\(index)]"), problem: "contains a NUL byte")
            }
        }
        let bytes = (process.args + process.env).reduce(0) { $0 + $1.utf8.count + 4 } + cwd.utf8.count
        guard bytes <= requestBytesLimit else {
            throw .invalid(field: fields.name("args"), problem: "arguments and environment take \(bytes) bytes, more than \(requestBytesLimit)")
        }
        if let user = try fields.object("user") {
            // 0xFFFFFFFF is the agent protocol's "keep the agent's own" (and (uid_t)-1 to the kernel).
            let ids: ClosedRange<Int64> = 0...Int64(UInt32.max - 1)
            process.uid = UInt32(try user.integer("uid", in: ids) ?? 0)
            process.gid = UInt32(try user.integer("gid", in: ids) ?? 0)
            let extra = try user.array("additionalGids") ?? []
            guard extra.count <= 65536 else { throw .invalid(field: user.name("additionalGids"), problem: "more than 65536 groups") }
            for (index, value) in extra.enumerated() {
                process.additionalGids.append(UInt32(try JSONFields.integer(value, field: user.name("additionalGids[\(index)]"), in: ids)))
            }
        }
        for (index, value) in (try fields.array("rlimits") ?? []).enumerated() {
            let limit = try JSONFields(path: fields.name("rlimits[\(index)]"), value)
            let type = try limit.requiredString("type")
            guard rlimitTypes.contains(type) else { throw .invalid(field: limit.name("type"), problem: "unknown rlimit \(type)") }
            guard let soft = try limit.unsigned("soft") else { throw .missing(field: limit.name("soft")) }
            guard let hard = try limit.unsigned("hard") else { throw .missing(field: limit.name("hard")) }
            guard soft <= hard else { throw .invalid(field: limit.name("soft"), problem: "\(soft) is above the hard limit \(hard)") }
            guard !process.rlimits.contains(where: { $0.type == type }) else {
                throw .invalid(field: limit.name("type"), problem: "\(type) given twice")
            }
            process.rlimits.append(Rlimit(type: type, soft: soft, hard: hard))
        }
        process.noNewPrivileges = try fields.bool("noNewPrivileges") ?? false
        return process
    }

    /// A process object given as text (`exec` checks it before handing it to a relay).
    public static func parse(json: String) throws(OCIConfigError) -> OCIProcess {
        let document: JSONDocument
        do { document = try JSONDocument.parse(Array(json.utf8)) } catch { throw .syntax(path: "process", error) }
        return try parse(JSONFields(path: "", document))
    }

    /// process.json of `exec --process`: the same object at the top level.
    public static func load(path: String) throws(OCIConfigError) -> OCIProcess {
        let document = try BundleFile.read(path)
        return try parse(JSONFields(path: "", document))
    }
}
