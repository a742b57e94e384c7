import Devices

/// A virtio-net interface as the user configured it: an ID (Firecracker's `iface_id`), the
/// host TAP it is backed by, and optionally the guest's MAC address.
public struct NetConfig: Sendable, Equatable {
    public var id: String
    public var tapName: String
    /// `AA:BB:CC:DD:EE:FF`; nil derives a stable locally administered address.
    public var mac: String?
    /// Limits on frames from the TAP to the guest, and from the guest to the TAP.
    public var receiveRateLimiter: RateLimiterConfig
    public var transmitRateLimiter: RateLimiterConfig

    public init(id: String, tapName: String, mac: String? = nil, receiveRateLimiter: RateLimiterConfig = .unlimited,
                transmitRateLimiter: RateLimiterConfig = .unlimited) {
        self.id = id
        self.tapName = tapName
        self.mac = mac
        self.receiveRateLimiter = receiveRateLimiter
        self.transmitRateLimiter = transmitRateLimiter
    }

    /// The guest's address: the configured one, or one derived from the ID and TAP name, so
    /// the same configuration always gives the guest the same address.
    public func resolvedMAC() throws(VMMError) -> MACAddress {
        guard let mac else { return MACAddress.derived(from: "\(id)/\(tapName)") }
        guard let address = MACAddress(parsing: mac) else {
            throw .invalidConfiguration("network interface \(id): invalid MAC address '\(mac)' "
                                        + "(six hex pairs like 06:00:AC:10:00:02, unicast, not all zero)")
        }
        return address
    }

    /// Checks every interface and that no ID or TAP is used twice.
    static func validate(_ interfaces: [NetConfig]) throws(VMMError) {
        var ids: Set<String> = [], taps: Set<String> = []
        for interface in interfaces {
            guard !interface.id.isEmpty else { throw .invalidConfiguration("network interface ID is empty") }
            guard Tap.isValidName(interface.tapName) else {
                throw .invalidConfiguration("network interface \(interface.id): \(TapError.invalidName(interface.tapName))")
            }
            _ = try interface.resolvedMAC()
            guard ids.insert(interface.id).inserted else {
                throw .invalidConfiguration("network interface ID \(interface.id) is used twice")
            }
            guard taps.insert(interface.tapName).inserted else {
                throw .invalidConfiguration("TAP \(interface.tapName) is used by two network interfaces")
            }
        }
    }
}
