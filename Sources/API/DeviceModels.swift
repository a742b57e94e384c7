import Devices

/// Bodies of the device endpoints beyond drives: `PUT /network-interfaces/{id}`, `PUT /vsock`,
/// `PUT /entropy`, with Firecracker's field names and strict decoding.

/// `PUT /network-interfaces/{iface_id}`: a TAP device on the host.
public struct NetworkInterface: Decodable, Equatable, Sendable {
    public var ifaceID: String
    public var hostDevName: String
    public var guestMAC: String?
    /// nil: no limit (the interface still gets limiters, so PATCH can set them later).
    public var rxRateLimiter: RateLimiterConfig?
    public var txRateLimiter: RateLimiterConfig?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case ifaceID = "iface_id", hostDevName = "host_dev_name", guestMAC = "guest_mac", mtu
        case rxRateLimiter = "rx_rate_limiter", txRateLimiter = "tx_rate_limiter"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "network-interface")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ifaceID = try c.decode(String.self, forKey: .ifaceID)
        hostDevName = try c.decode(String.self, forKey: .hostDevName)
        guestMAC = try c.decodeIfPresent(String.self, forKey: .guestMAC)
        try Identifier.check(ifaceID, what: "iface_id")
        // IFNAMSIZ is 16 with the terminating NUL.
        guard (1...15).contains(hostDevName.utf8.count), !hostDevName.contains("/"), !hostDevName.contains(" ") else {
            throw ConfigurationError("network-interface \(ifaceID): host_dev_name '\(hostDevName)' must be 1 to 15 characters, no '/' or spaces")
        }
        if let guestMAC, MACText.parse(guestMAC) == nil {
            throw ConfigurationError("network-interface \(ifaceID): guest_mac '\(guestMAC)' is not a MAC address like 06:00:ac:10:00:02")
        }
        if c.contains(.mtu) { throw ConfigurationError("network-interface \(ifaceID): mtu is not supported yet") }
        rxRateLimiter = try RateLimiterBody.decode(c, forKey: .rxRateLimiter, owner: "network-interface \(ifaceID)")
        txRateLimiter = try RateLimiterBody.decode(c, forKey: .txRateLimiter, owner: "network-interface \(ifaceID)")
    }

    var json: JSONValue {
        var members: [(String, JSONValue)] = [("iface_id", .string(ifaceID)), ("host_dev_name", .string(hostDevName))]
        if let guestMAC { members.append(("guest_mac", .string(guestMAC))) }
        if let rxRateLimiter { members.append(("rx_rate_limiter", rxRateLimiter.json)) }
        if let txRateLimiter { members.append(("tx_rate_limiter", txRateLimiter.json)) }
        return .object(members)
    }
}

/// `PUT /vsock`: the guest's CID and the host Unix socket of Firecracker's hybrid vsock.
public struct Vsock: Decodable, Equatable, Sendable {
    public var guestCID: UInt32
    public var udsPath: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case guestCID = "guest_cid", udsPath = "uds_path", vsockID = "vsock_id"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "vsock")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let cid = try c.decode(Int64.self, forKey: .guestCID)
        // 0-2 are reserved (hypervisor, local, host); CIDs are 32-bit in the virtio header's use.
        guard (3...Int64(UInt32.max - 1)).contains(cid) else {
            throw ConfigurationError("vsock: guest_cid must be 3 to \(UInt32.max - 1) (got \(cid))")
        }
        guestCID = UInt32(cid)
        udsPath = try c.decode(String.self, forKey: .udsPath)
        // sun_path holds 108 bytes with the NUL; guest-initiated connections add "_<port>".
        guard !udsPath.isEmpty, udsPath.utf8.count <= 96, !udsPath.utf8.contains(0) else {
            throw ConfigurationError("vsock: uds_path must be 1 to 96 bytes (got \(udsPath.utf8.count))")
        }
    }

    var json: JSONValue { .object([("guest_cid", .uint(UInt64(guestCID))), ("uds_path", .string(udsPath))]) }
}

/// Ids in API paths and bodies: what Firecracker accepts, checked before anything is stored.
enum Identifier {
    static func check(_ id: String, what: String) throws(ConfigurationError) {
        guard (1...64).contains(id.utf8.count),
              id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x5f }) else {
            throw ConfigurationError("\(what) '\(id)' must be 1 to 64 letters, digits or '_'")
        }
    }
}

/// Six colon-separated hex bytes.
enum MACText {
    static func parse(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.count == 2, let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
