import AgentProtocol

/// The network interface an engine gave the container in its namespace (CNI's or netavark's
/// veth `eth0`): its name, IPv4 address, prefix, default gateway and MAC, read from
/// `ip -j addr show` and `ip -j route show default` run in that namespace. The guest takes
/// these over (Kata's "tcfilter" model): its eth0 gets the MAC and address, and the VM's TAP and
/// the veth redirect every frame to each other, so the engine's bridge, NAT and port mappings
/// work unchanged.
public struct EngineInterface: Equatable, Sendable {
    public let name: String
    public let mac: String
    public let mtu: Int
    public let network: GuestNetwork

    /// The interface the default route leaves by, if it has an IPv4 address, a MAC and a name
    /// kiln would pass on; nil when the namespace has no such route (`--network none`: only
    /// loopback). The documents are the `ip` tool's output, trusted no more than a config file.
    public static func find(addresses: JSONDocument, defaultRoutes: JSONDocument) -> EngineInterface? {
        guard case .array(let routes) = defaultRoutes else { return nil }
        for route in routes {
            guard case .object(let fields) = route, case .string(let device)? = fields["dev"],
                  case .string(let gatewayText)? = fields["gateway"],
                  let gateway = IPv4Address(Substring(gatewayText)) else { continue }
            if let found = interface(named: device, gateway: gateway, in: addresses) { return found }
        }
        return nil
    }

    private static func interface(named device: String, gateway: IPv4Address, in addresses: JSONDocument) -> EngineInterface? {
        guard case .array(let links) = addresses, isInterfaceName(device) else { return nil }
        for link in links {
            guard case .object(let fields) = link, fields["ifname"] == .string(device),
                  case .string(let mac)? = fields["address"], isUnicastMAC(mac),
                  case .number(let mtuText)? = fields["mtu"], let mtu = Int(mtuText), (68...65535).contains(mtu),
                  case .array(let infos)? = fields["addr_info"] else { continue }
            for info in infos {
                guard case .object(let address) = info, address["family"] == .string("inet"),
                      case .string(let local)? = address["local"], let ip = IPv4Address(Substring(local)),
                      case .number(let prefixText)? = address["prefixlen"], let prefix = Int(prefixText),
                      let network = try? GuestNetwork(address: ip, prefixLength: prefix, gateway: gateway) else { continue }
                return EngineInterface(name: device, mac: mac.lowercased(), mtu: mtu, network: network)
            }
        }
        return nil
    }

    /// A name `ip` and `tc` take as one argument: 1 to 15 bytes (IFNAMSIZ - 1) of letters,
    /// digits, '-', '_' and '.'; never a kiln TAP.
    static func isInterfaceName(_ name: String) -> Bool {
        (1...15).contains(name.utf8.count) && !name.hasPrefix("kilntap") && name.first != "-"
            && name.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
    }

    /// Six colon-separated hex bytes with the multicast bit clear and not all zero: a MAC a
    /// virtio-net device can take as its own.
    static func isUnicastMAC(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return false }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.utf8.count == 2, part.allSatisfy(\.isHexDigit), let byte = UInt8(part, radix: 16) else { return false }
            bytes.append(byte)
        }
        return bytes[0] & 1 == 0 && bytes.contains { $0 != 0 }
    }
}
