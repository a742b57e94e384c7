import Devices

/// `PATCH /drives/{drive_id}` (Firecracker's PartialDrive), valid while the VM runs: a new
/// backing file (`path_on_host`, opened with the drive's read-only setting; the guest sees the new
/// capacity through a config-change interrupt) and/or a new `rate_limiter`.
public struct PartialDrive: Decodable, Equatable, Sendable {
    public var driveID: String
    public var pathOnHost: String?
    public var rateLimiter: RateLimiterConfig?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case driveID = "drive_id", pathOnHost = "path_on_host", rateLimiter = "rate_limiter"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "drive update")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        driveID = try c.decode(String.self, forKey: .driveID)
        try Identifier.check(driveID, what: "drive_id")
        pathOnHost = try c.decodeIfPresent(String.self, forKey: .pathOnHost)
        if let pathOnHost, pathOnHost.isEmpty || pathOnHost.utf8.contains(0) {
            throw ConfigurationError("drive \(driveID): path_on_host must be a non-empty path")
        }
        rateLimiter = try RateLimiterBody.decode(c, forKey: .rateLimiter, owner: "drive \(driveID)")
    }
}

/// `PATCH /network-interfaces/{iface_id}` (Firecracker's PartialNetworkInterface): new receive
/// and/or transmit rate limiters for a running VM's interface.
public struct PartialNetworkInterface: Decodable, Equatable, Sendable {
    public var ifaceID: String
    public var rxRateLimiter: RateLimiterConfig?
    public var txRateLimiter: RateLimiterConfig?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case ifaceID = "iface_id", rxRateLimiter = "rx_rate_limiter", txRateLimiter = "tx_rate_limiter"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "network-interface update")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ifaceID = try c.decode(String.self, forKey: .ifaceID)
        try Identifier.check(ifaceID, what: "iface_id")
        rxRateLimiter = try RateLimiterBody.decode(c, forKey: .rxRateLimiter, owner: "network-interface \(ifaceID)")
        txRateLimiter = try RateLimiterBody.decode(c, forKey: .txRateLimiter, owner: "network-interface \(ifaceID)")
    }
}
