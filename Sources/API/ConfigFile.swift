#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Devices
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
        resources.entropy = try c.decodeIfPresent(EntropyDevice.self, forKey: .entropy)
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
            throw ConfigurationError(describe(error, body: data))
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

    /// One line naming the problem; `body` (the JSON decoded) lets it name a number that does
    /// not fit its field, which the decoder reports as "not valid JSON" without a path.
    static func describe(_ error: DecodingError, body: Data? = nil) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the configuration" : keys.joined(separator: ".")
        }
        switch error {
        case let .keyNotFound(key, context): return "missing field '\(key.stringValue)' in \(path(context))"
        case let .typeMismatch(type, context): return "\(path(context)): expected \(jsonName(type))"
        case let .valueNotFound(type, context): return "\(path(context)): expected \(jsonName(type)), found null"
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty, let body, let probe = try? JSONDecoder().decode(NumberProbe.self, from: body),
               let misfit = probe.misfit {
                return "\(misfit.path.isEmpty ? "the configuration" : misfit.path.joined(separator: ".")): \(misfit.value) is not an integer in range"
            }
            return "invalid JSON at \(path(context)): \(context.debugDescription)"
        @unknown default: return "invalid configuration"
        }
    }

    private static func jsonName(_ type: Any.Type) -> String {
        switch type {
        case is [String: Any].Type: "a JSON object"
        case is [Any].Type: "a JSON array"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int64.Type, is UInt32.Type, is UInt64.Type: "an integer"
        default: "\(type)"
        }
    }
}

/// Any JSON document, walked for the first number that is not an Int64 (1.5, 2^70): the field
/// a "not valid JSON" error from the decoder was really about.
struct NumberProbe: Decodable {
    var misfit: (path: [String], value: Double)?

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            for key in object.allKeys {
                if let inner = try object.decode(NumberProbe.self, forKey: key).misfit {
                    misfit = ([key.stringValue] + inner.path, inner.value)
                    return
                }
            }
        } else if var array = try? decoder.unkeyedContainer() {
            var index = 0
            while !array.isAtEnd {
                if let inner = try array.decode(NumberProbe.self).misfit {
                    misfit = (["[\(index)]"] + inner.path, inner.value)
                    return
                }
                index += 1
            }
        } else {
            let value = try decoder.singleValueContainer()
            if (try? value.decode(Int64.self)) == nil, let number = try? value.decode(Double.self) {
                misfit = ([], number)
            }
        }
    }
}

/// `entropy` / `PUT /entropy`: Firecracker's EntropyDeviceConfig, an optional rate limiter.
public struct EntropyDevice: Decodable, Equatable, Sendable {
    public var rateLimiter: RateLimiterConfig?

    enum CodingKeys: String, CodingKey, CaseIterable { case rateLimiter = "rate_limiter" }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "entropy")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rateLimiter = try RateLimiterBody.decode(c, forKey: .rateLimiter, owner: "entropy")
    }

    var json: JSONValue {
        guard let rateLimiter else { return .object([]) }
        return .object([("rate_limiter", rateLimiter.json)])
    }
}

