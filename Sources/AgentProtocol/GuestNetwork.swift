/// The guest's side of `kiln run --net`: eth0's IPv4 address, prefix and the host's address
/// (its default gateway), passed to kiln-agent on the kernel command line as
/// `kiln.net=<guest-ip>/<prefix>,<host-ip>`. Shared by both ends so kiln writes exactly what
/// the agent parses.
public struct GuestNetwork: Equatable, Sendable, CustomStringConvertible {
    public let address: IPv4Address
    public let prefixLength: Int
    public let gateway: IPv4Address

    public static let commandLineKey = "kiln.net="

    public init(address: IPv4Address, prefixLength: Int, gateway: IPv4Address) throws(GuestNetworkError) {
        // 1...30: the gateway must be on the link, and a /31 or /32 has no room for both ends.
        guard (1...30).contains(prefixLength) else { throw .badPrefix(String(prefixLength)) }
        let mask = IPv4Address.netmask(prefixLength: prefixLength)
        guard address != gateway else { throw .gatewayIsAddress }
        guard address.value & mask.value == gateway.value & mask.value else { throw .gatewayOffLink }
        for host in [address, gateway] {
            let hostBits = host.value & ~mask.value
            guard hostBits != 0, hostBits != ~mask.value else { throw .notAHostAddress(host) }
        }
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
    }

    public var netmask: IPv4Address { IPv4Address.netmask(prefixLength: prefixLength) }

    /// The value of `kiln.net=`: "172.31.0.2/30,172.31.0.1".
    public var description: String { "\(address)/\(prefixLength),\(gateway)" }

    public var commandLineWord: String { Self.commandLineKey + description }

    /// Parses a `kiln.net=` value; throws what is wrong with it.
    public static func parse(_ value: Substring) throws(GuestNetworkError) -> GuestNetwork {
        let parts = value.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .malformed(String(value)) }
        let cidr = parts[0].split(separator: "/", omittingEmptySubsequences: false)
        guard cidr.count == 2 else { throw .malformed(String(value)) }
        guard let address = IPv4Address(cidr[0]) else { throw .badAddress(String(cidr[0])) }
        guard cidr[1].utf8.count <= 2, cidr[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let prefix = Int(cidr[1]) else { throw .badPrefix(String(cidr[1])) }
        guard let gateway = IPv4Address(parts[1]) else { throw .badAddress(String(parts[1])) }
        return try GuestNetwork(address: address, prefixLength: prefix, gateway: gateway)
    }

    /// The `kiln.net=` word of a kernel command line: nil when there is none (no network
    /// wanted), else the network or what is wrong with it. The last such word counts, as the
    /// kernel's own parameters.
    public static func fromCommandLine(_ cmdline: String) -> Result<GuestNetwork, GuestNetworkError>? {
        let words = cmdline.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        guard let word = words.last(where: { $0.hasPrefix(commandLineKey) }) else { return nil }
        do {
            return .success(try parse(word.dropFirst(commandLineKey.count)))
        } catch {
            return .failure(error)
        }
    }
}

/// The point-to-point links of `kiln run --net`: link k is the k-th /30 of 172.31.0.0/16
/// (host .1, guest .2 of it, counting from 172.31.0.4*k), on the host TAP `kilntap<k>`.
public enum GuestLink {
    public static let base = IPv4Address(172, 31, 0, 0)
    public static let prefixLength = 30
    /// 2^(30-16) /30s fit in the /16.
    public static let count = 1 << (prefixLength - 16)

    /// The host's address on link `index`, or nil when the index is out of range.
    public static func hostAddress(index: Int) -> IPv4Address? {
        guard (0..<count).contains(index) else { return nil }
        return IPv4Address(value: base.value + UInt32(4 * index) + 1)
    }

    /// What the guest on link `index` is told (`kiln.net=`), or nil when out of range.
    public static func guestNetwork(index: Int) -> GuestNetwork? {
        guard let host = hostAddress(index: index) else { return nil }
        return try? GuestNetwork(address: IPv4Address(value: host.value + 1), prefixLength: prefixLength, gateway: host)
    }
}

/// An IPv4 address, as a host-order number (172.31.0.1 is 0xAC1F_0001).
public struct IPv4Address: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let value: UInt32

    public init(value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Strict dotted quad: four decimal fields of 1 to 3 digits, each at most 255.
    public init?(_ text: Substring) {
        let fields = text.split(separator: ".", omittingEmptySubsequences: false)
        guard fields.count == 4 else { return nil }
        var value: UInt32 = 0
        for field in fields {
            guard (1...3).contains(field.utf8.count), field.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let byte = UInt32(field), byte <= 255 else { return nil }
            value = value << 8 | byte
        }
        self.value = value
    }

    public static func netmask(prefixLength: Int) -> IPv4Address {
        IPv4Address(value: prefixLength <= 0 ? 0 : prefixLength >= 32 ? .max : ~(UInt32.max >> UInt32(prefixLength)))
    }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }
}

public enum GuestNetworkError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case badAddress(String)
    case badPrefix(String)
    case gatewayIsAddress
    case gatewayOffLink
    case notAHostAddress(IPv4Address)

    public var description: String {
        switch self {
        case .malformed(let value): "'\(value)' is not ADDRESS/PREFIX,GATEWAY"
        case .badAddress(let text): "'\(text)' is not an IPv4 address"
        case .badPrefix(let text): "prefix length '\(text)' is not 1 to 30"
        case .gatewayIsAddress: "the gateway is the guest's own address"
        case .gatewayOffLink: "the gateway is not in the guest's subnet"
        case .notAHostAddress(let address): "\(address) is the subnet's network or broadcast address"
        }
    }
}
