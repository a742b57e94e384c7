#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import VMM
#if canImport(Glibc)
import Glibc
#endif

/// Firecracker's `--config-file` JSON: the whole VM in one document, turned into a `VMConfig`.
public struct ConfigFile: Decodable, Sendable {
    /// Firecracker's default kernel command line, plus the serial console Kiln's users expect.
    public static let defaultBootArgs = VMConfig.defaultCommandLine

    public var bootSource: BootSource
    public var machineConfig: MachineConfiguration?
    public var drives: [Drive]
    public var entropy: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case bootSource = "boot-source", machineConfig = "machine-config", drives, entropy
        // Known to Firecracker, not implemented by Kiln yet: rejected by name, unless empty.
        case networkInterfaces = "network-interfaces", vsock, logger, metrics, mmdsConfig = "mmds-config"
        case balloon, cpuConfig = "cpu-config"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "the configuration")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bootSource = try c.decode(BootSource.self, forKey: .bootSource)
        machineConfig = try c.decodeIfPresent(MachineConfiguration.self, forKey: .machineConfig)
        drives = try c.decodeIfPresent([Drive].self, forKey: .drives) ?? []
        entropy = try c.decodeIfPresent(EntropyDevice.self, forKey: .entropy) != nil
        for key in [CodingKeys.networkInterfaces, .vsock, .logger, .metrics, .mmdsConfig, .balloon, .cpuConfig]
            where c.contains(key) && (try? c.decodeNil(forKey: key)) != true {
            if key == .networkInterfaces, let list = try? c.decode([AnyKeyObject].self, forKey: key), list.isEmpty { continue }
            throw ConfigurationError("'\(key.rawValue)' is not supported by this version of kiln")
        }
        var seen = Set<String>()
        for drive in drives where !seen.insert(drive.driveID).inserted {
            throw ConfigurationError("drive_id '\(drive.driveID)' appears twice")
        }
        guard drives.filter(\.isRootDevice).count <= 1 else {
            throw ConfigurationError("more than one drive has is_root_device=true")
        }
    }

    /// Reads and validates `path`; every problem is a one-line `ConfigurationError`.
    public static func load(path: String) throws(ConfigurationError) -> ConfigFile {
        return try decode(Data(try readWholeFile(path)))
    }

    public static func decode(_ data: Data) throws(ConfigurationError) -> ConfigFile {
        do {
            return try JSONDecoder().decode(ConfigFile.self, from: data)
        } catch let error as ConfigurationError {
            throw error
        } catch let error as DecodingError {
            throw ConfigurationError(describe(error))
        } catch {
            throw ConfigurationError("invalid configuration: \(error)")
        }
    }

    /// The VM this file describes. As in Firecracker, the root device becomes /dev/vda and
    /// `root=/dev/vda ro|rw` is added to the command line.
    public func vmConfig() -> VMConfig {
        let ordered = drives.filter(\.isRootDevice) + drives.filter { !$0.isRootDevice }
        var commandLine = bootSource.bootArgs ?? Self.defaultBootArgs
        if let root = drives.first(where: \.isRootDevice) {
            commandLine += " root=/dev/vda " + (root.isReadOnly ? "ro" : "rw")
        }
        return VMConfig(
            kernelPath: bootSource.kernelImagePath, initrdPath: bootSource.initrdPath, commandLine: commandLine,
            vcpuCount: machineConfig?.vcpuCount ?? 1, memoryMiB: machineConfig?.memSizeMiB ?? VMConfig.defaultMemoryMiB,
            drives: ordered.map { DriveConfig(path: $0.pathOnHost, readOnly: $0.isReadOnly) }, entropy: entropy)
    }

    /// Config files are small: at most 1 MiB is read, so a wrong path (a device, a huge file)
    /// cannot make kiln read without end.
    static func readWholeFile(_ path: String) throws(ConfigurationError) -> [UInt8] {
        let limit = 1 << 20
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ConfigurationError("configuration file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var count = 0
        while count <= limit {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, limit + 1 - count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ConfigurationError("configuration file \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            count += n
        }
        guard count <= limit else { throw ConfigurationError("configuration file \(path) is larger than 1 MiB") }
        return Array(bytes[..<count])
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the configuration" : keys.joined(separator: ".")
        }
        switch error {
        case let .keyNotFound(key, context): return "missing field '\(key.stringValue)' in \(path(context))"
        case let .typeMismatch(type, context): return "\(path(context)): expected \(type)"
        case let .valueNotFound(type, context): return "\(path(context)): expected \(type), found null"
        case let .dataCorrupted(context): return "invalid JSON at \(path(context)): \(context.debugDescription)"
        @unknown default: return "invalid configuration"
        }
    }
}

/// `entropy` / `PUT /entropy`: only a rate limiter, which Kiln does not implement yet.
struct EntropyDevice: Decodable {
    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys([], in: "entropy (rate_limiter is not supported yet)")
    }
}

/// Any JSON object, for lists whose emptiness is all that matters.
struct AnyKeyObject: Decodable {}
