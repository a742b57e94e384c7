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
    public var resources = VMResources()

    enum CodingKeys: String, CodingKey, CaseIterable {
        case bootSource = "boot-source", machineConfig = "machine-config", drives, entropy
        case networkInterfaces = "network-interfaces", vsock, logger, metrics
        // Known to Firecracker, not implemented by Kiln: rejected by name, unless empty.
        case mmdsConfig = "mmds-config", balloon, cpuConfig = "cpu-config"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "the configuration")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        resources.bootSource = try c.decode(BootSource.self, forKey: .bootSource)
        resources.machineConfig = try c.decodeIfPresent(MachineConfiguration.self, forKey: .machineConfig) ?? .default
        var seen = Set<String>()
        for drive in try c.decodeIfPresent([Drive].self, forKey: .drives) ?? [] {
            guard seen.insert(drive.driveID).inserted else { throw ConfigurationError("drive_id '\(drive.driveID)' appears twice") }
            do { try resources.put(drive) } catch { throw ConfigurationError("more than one drive has is_root_device=true") }
        }
        for interface in try c.decodeIfPresent([NetworkInterface].self, forKey: .networkInterfaces) ?? [] {
            guard seen.insert("net:" + interface.ifaceID).inserted else {
                throw ConfigurationError("iface_id '\(interface.ifaceID)' appears twice")
            }
            try resources.put(interface)
        }
        resources.vsock = try c.decodeIfPresent(Vsock.self, forKey: .vsock)
        resources.entropy = try c.decodeIfPresent(EntropyDevice.self, forKey: .entropy) != nil
        resources.logger = try c.decodeIfPresent(LoggerConfig.self, forKey: .logger)
        resources.metrics = try c.decodeIfPresent(MetricsConfig.self, forKey: .metrics)
        for key in [CodingKeys.mmdsConfig, .balloon, .cpuConfig] where c.contains(key) && (try? c.decodeNil(forKey: key)) != true {
            throw ConfigurationError("'\(key.rawValue)' is not supported by this version of kiln")
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

    /// The VM this file describes (see `VMResources.vmConfig`).
    public func vmConfig() throws(ConfigurationError) -> VMConfig { try resources.vmConfig() }

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

    static func describe(_ error: DecodingError) -> String {
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

