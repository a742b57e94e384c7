/// An Ethernet address, as the guest's virtio-net config space shows it.
public struct MACAddress: Sendable, Equatable, CustomStringConvertible {
    public let bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
        bytes = (b0, b1, b2, b3, b4, b5)
    }

    /// Parses `AA:BB:CC:DD:EE:FF` (hex, either case). Multicast addresses (low bit of the
    /// first byte set) cannot be a NIC's own address and are refused, as is all zeros.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var values: [UInt8] = []
        for part in parts {
            guard part.count == 2, let value = UInt8(part, radix: 16) else { return nil }
            values.append(value)
        }
        guard values[0] & 1 == 0, values.contains(where: { $0 != 0 }) else { return nil }
        self.init(values[0], values[1], values[2], values[3], values[4], values[5])
    }

    /// A locally administered unicast address (first byte 0x06: bit 1 set, bit 0 clear) made
    /// from `seed` with FNV-1a, so the same interface name always gets the same address.
    public static func derived(from seed: String) -> MACAddress {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in seed.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        func byte(_ index: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: hash >> (8 * index)) }
        return MACAddress(0x06, byte(0), byte(1), byte(2), byte(3), byte(4))
    }

    public var array: [UInt8] { [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5] }

    public var description: String {
        array.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }

    public static func == (lhs: MACAddress, rhs: MACAddress) -> Bool { lhs.array == rhs.array }
}
