import Devices
import VMM

/// Firecracker's API/config-file bodies (../shared/firecracker-api.yaml), the subset Kiln
/// implements. Field names are Firecracker's, so existing configs and SDKs work unchanged.

/// `boot-source` / `PUT /boot-source`.
public struct BootSource: Decodable, Equatable, Sendable {
    public var kernelImagePath: String
    public var bootArgs: String?
    public var initrdPath: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kernelImagePath = "kernel_image_path", bootArgs = "boot_args", initrdPath = "initrd_path"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "boot-source")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kernelImagePath = try c.decode(String.self, forKey: .kernelImagePath)
        bootArgs = try c.decodeIfPresent(String.self, forKey: .bootArgs)
        initrdPath = try c.decodeIfPresent(String.self, forKey: .initrdPath)
    }

    var json: JSONValue {
        var members: [(String, JSONValue)] = [("kernel_image_path", .string(kernelImagePath))]
        if let bootArgs { members.append(("boot_args", .string(bootArgs))) }
        if let initrdPath { members.append(("initrd_path", .string(initrdPath))) }
        return .object(members)
    }
}

/// `machine-config` / `PUT /machine-config` (and, with every field optional, `PATCH`).
public struct MachineConfiguration: Decodable, Equatable, Sendable {
    public static let maxVcpus = 32
    public var vcpuCount: Int
    public var memSizeMiB: Int
    public var smt: Bool
    /// Keep KVM's dirty log (and the VMM's own) so Diff snapshots save only written pages.
    public var trackDirtyPages = false

    public static let `default` = MachineConfiguration(vcpuCount: 1, memSizeMiB: VMConfig.defaultMemoryMiB)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vcpuCount = "vcpu_count", memSizeMiB = "mem_size_mib", smt, trackDirtyPages = "track_dirty_pages"
        case cpuTemplate = "cpu_template", hugePages = "huge_pages"
    }

    public init(vcpuCount: Int, memSizeMiB: Int, smt: Bool = false) {
        self.vcpuCount = vcpuCount
        self.memSizeMiB = memSizeMiB
        self.smt = smt
    }

    public init(from decoder: any Decoder) throws {
        self = try Self.decode(from: decoder, base: nil)
    }

    /// Decodes a whole body (`base` nil: vcpu_count and mem_size_mib required) or a PATCH body
    /// applied on top of `base`; the result is validated as a whole either way.
    static func decode(from decoder: any Decoder, base: MachineConfiguration?) throws -> MachineConfiguration {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "machine-config")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var result: MachineConfiguration
        if let base {
            result = base
            result.vcpuCount = try c.decodeIfPresent(Int.self, forKey: .vcpuCount) ?? base.vcpuCount
            result.memSizeMiB = try c.decodeIfPresent(Int.self, forKey: .memSizeMiB) ?? base.memSizeMiB
            result.smt = try c.decodeIfPresent(Bool.self, forKey: .smt) ?? base.smt
            result.trackDirtyPages = try c.decodeIfPresent(Bool.self, forKey: .trackDirtyPages) ?? base.trackDirtyPages
        } else {
            result = MachineConfiguration(vcpuCount: try c.decode(Int.self, forKey: .vcpuCount),
                                          memSizeMiB: try c.decode(Int.self, forKey: .memSizeMiB),
                                          smt: try c.decodeIfPresent(Bool.self, forKey: .smt) ?? false)
            result.trackDirtyPages = try c.decodeIfPresent(Bool.self, forKey: .trackDirtyPages) ?? false
        }
        try result.validate()
        // Accepted with their default values only: anything else asks for a feature Kiln lacks.
        if let template = try c.decodeIfPresent(String.self, forKey: .cpuTemplate), template != "None" {
            throw ConfigurationError("machine-config: cpu_template '\(template)' is not supported")
        }
        if let pages = try c.decodeIfPresent(String.self, forKey: .hugePages), pages != "None" {
            throw ConfigurationError("machine-config: huge_pages '\(pages)' is not supported yet")
        }
        return result
    }

    func validate() throws(ConfigurationError) {
        guard (1...Self.maxVcpus).contains(vcpuCount) else {
            throw ConfigurationError("machine-config: vcpu_count must be 1 to \(Self.maxVcpus) (got \(vcpuCount))")
        }
        guard memSizeMiB >= VMConfig.minimumMemoryMiB else {
            throw ConfigurationError("machine-config: mem_size_mib must be at least \(VMConfig.minimumMemoryMiB) (got \(memSizeMiB))")
        }
        guard memSizeMiB <= VMConfig.hostMemoryMiB() else {
            throw ConfigurationError("machine-config: mem_size_mib \(memSizeMiB) exceeds the host's \(VMConfig.hostMemoryMiB()) MiB")
        }
        if smt { throw ConfigurationError("machine-config: smt=true is not supported") }
    }

    var json: JSONValue {
        .object([("vcpu_count", .int(Int64(vcpuCount))), ("mem_size_mib", .int(Int64(memSizeMiB))),
                 ("smt", .bool(smt)), ("track_dirty_pages", .bool(trackDirtyPages))])
    }
}

/// `PATCH /machine-config`: a subset of the fields, applied to the current configuration.
struct MachineConfigurationPatch: Decodable {
    let result: MachineConfiguration
    init(from decoder: any Decoder) throws {
        result = try MachineConfiguration.decode(from: decoder, base: decoder.userInfo[.machineConfigBase] as? MachineConfiguration ?? .default)
    }
}

extension CodingUserInfoKey {
    static let machineConfigBase = CodingUserInfoKey(rawValue: "kiln.machineConfigBase")!
}

/// An entry of `drives` / `PUT /drives/{drive_id}` (virtio-blk on a host file).
public struct Drive: Decodable, Equatable, Sendable {
    public var driveID: String
    public var pathOnHost: String
    public var isRootDevice: Bool
    public var isReadOnly: Bool
    /// nil: no limit (the device still gets a limiter, so `PATCH /drives` can set one later).
    public var rateLimiter: RateLimiterConfig?
    /// `io_engine`: "Sync" or "Async" (nil: kiln's default).
    public var ioEngine: BlockIOEngine?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case driveID = "drive_id", pathOnHost = "path_on_host", isRootDevice = "is_root_device"
        case isReadOnly = "is_read_only", partuuid, cacheType = "cache_type", ioEngine = "io_engine"
        case rateLimiter = "rate_limiter", socket
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "drive")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        driveID = try c.decode(String.self, forKey: .driveID)
        pathOnHost = try c.decode(String.self, forKey: .pathOnHost)
        isRootDevice = try c.decode(Bool.self, forKey: .isRootDevice)
        isReadOnly = try c.decodeIfPresent(Bool.self, forKey: .isReadOnly) ?? false
        guard !driveID.isEmpty, driveID.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw ConfigurationError("drive: drive_id '\(driveID)' must be non-empty alphanumeric or '_'")
        }
        if let partuuid = try c.decodeIfPresent(String.self, forKey: .partuuid), !partuuid.isEmpty {
            throw ConfigurationError("drive \(driveID): partuuid is not supported yet")
        }
        if let engine = try c.decodeIfPresent(String.self, forKey: .ioEngine) {
            guard let parsed = BlockIOEngine(rawValue: engine) else {
                throw ConfigurationError("drive \(driveID): io_engine must be Sync or Async (got '\(engine)')")
            }
            ioEngine = parsed
        }
        if let cache = try c.decodeIfPresent(String.self, forKey: .cacheType), !["Unsafe", "Writeback"].contains(cache) {
            throw ConfigurationError("drive \(driveID): cache_type must be Unsafe or Writeback (got '\(cache)')")
        }
        rateLimiter = try RateLimiterBody.decode(c, forKey: .rateLimiter, owner: "drive \(driveID)")
        if c.contains(.socket) { throw ConfigurationError("drive \(driveID): vhost-user (socket) is not supported") }
    }

    var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("drive_id", .string(driveID)), ("path_on_host", .string(pathOnHost)),
            ("is_root_device", .bool(isRootDevice)), ("is_read_only", .bool(isReadOnly)),
            ("cache_type", .string("Unsafe")),
            ("io_engine", .string((ioEngine ?? DriveConfig.defaultIOEngine).rawValue))]
        if let rateLimiter { members.append(("rate_limiter", rateLimiter.json)) }
        return .object(members)
    }
}
