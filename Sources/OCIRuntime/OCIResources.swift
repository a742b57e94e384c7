/// `linux.resources` as far as a VM's size follows from it: the memory limit and the CPU quota.
/// Everything else (shares, pids, block I/O...) is accepted and left to the engine's cgroups.
public struct OCIResources: Equatable, Sendable {
    /// Bytes; nil or -1 (unlimited): kiln's default.
    public var memoryLimit: Int64?
    public var cpuQuota: Int64?
    public var cpuPeriod: UInt64?

    public init(memoryLimit: Int64? = nil, cpuQuota: Int64? = nil, cpuPeriod: UInt64? = nil) {
        self.memoryLimit = memoryLimit
        self.cpuQuota = cpuQuota
        self.cpuPeriod = cpuPeriod
    }

    static func parse(_ fields: JSONFields) throws(OCIConfigError) -> OCIResources {
        var resources = OCIResources()
        if let memory = try fields.object("memory") {
            resources.memoryLimit = try memory.integer("limit", in: -1...Int64.max)
        }
        if let cpu = try fields.object("cpu") {
            resources.cpuQuota = try cpu.integer("quota", in: -1...Int64.max)
            resources.cpuPeriod = try cpu.unsigned("period")
            if resources.cpuPeriod == 0 { throw .invalid(field: cpu.name("period"), problem: "0") }
        }
        return resources
    }

    /// This object as LinuxResources JSON (what `update` keeps in the state directory); a value
    /// JSON's integers here cannot hold (a period above 2^63-1) is left out.
    public var json: JSONOutput {
        var members: [(String, JSONOutput)] = []
        if let memoryLimit { members.append(("memory", .object([("limit", .int(memoryLimit))]))) }
        var cpu: [(String, JSONOutput)] = []
        if let cpuQuota { cpu.append(("quota", .int(cpuQuota))) }
        if let period = cpuPeriod.flatMap(Int64.init(exactly:)) { cpu.append(("period", .int(period))) }
        if !cpu.isEmpty { members.append(("cpu", .object(cpu))) }
        return .object(members)
    }

    /// `update`'s values over these: each one the update gives replaces the one here.
    public func updated(by update: OCIResources) -> OCIResources {
        OCIResources(memoryLimit: update.memoryLimit ?? memoryLimit, cpuQuota: update.cpuQuota ?? cpuQuota,
                     cpuPeriod: update.cpuPeriod ?? cpuPeriod)
    }

    /// `kiln-oci update --resources FILE`: a LinuxResources object at the top level; "-" is
    /// standard input (containerd's runc shim writes it there).
    public static func load(path: String) throws(OCIConfigError) -> OCIResources {
        guard path == "-" else { return try parse(JSONFields(path: "", BundleFile.read(path))) }
        return try parse(JSONFields(path: "", BundleFile.read(descriptor: 0, path: "(standard input)")))
    }
}
