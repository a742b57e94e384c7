import AgentProtocol
import CHost
// The interface ioctls are shared with the guest agent (it addresses eth0 the same way).
import CNetInterface
import Glibc

/// The host end of `kiln run --net`: a persistent TAP `kilntap<k>` that kiln creates (as root)
/// before the VMM starts and deletes when the run ends. The VMM only attaches to it by name,
/// so a jailed VMM without capabilities can use it when the TAP is owned by the jail's user.
/// The host side gets the first address of link k (GuestLink), the guest the second.
public struct HostTap: Equatable, Sendable {
    public static let namePrefix = "kilntap"

    public let index: Int

    public init?(index: Int) {
        guard (0..<GuestLink.count).contains(index) else { return nil }
        self.index = index
    }

    /// "kilntap<k>" with k a plain decimal in range (as recorded in a run directory); nil for
    /// any other name, so a damaged record never names someone else's interface.
    public init?(name: String) {
        guard name.hasPrefix(Self.namePrefix) else { return nil }
        let digits = name.dropFirst(Self.namePrefix.count)
        guard (1...5).contains(digits.utf8.count), digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              digits == "0" || !digits.hasPrefix("0"), let index = Int(digits) else { return nil }
        self.init(index: index)
    }

    public var name: String { "\(Self.namePrefix)\(index)" }
    public var hostAddress: IPv4Address { GuestLink.hostAddress(index: index)! }
    public var guestNetwork: GuestNetwork { GuestLink.guestNetwork(index: index)! }

    /// Claims the lowest free `kilntap<k>` (IFF_TUN_EXCL makes the claim atomic: a name that
    /// exists, whoever made it, answers EBUSY and the next k is tried), owned by `owner` when
    /// given, persistent, up, and its host side addressed unless `addressed` is false (a TAP
    /// whose frames are redirected to another interface: kiln-oci's, to the engine's veth).
    /// `record` gets the TAP and its interface index while only this process's descriptor
    /// holds it (the kernel deletes it if the process dies first) and returns nil, or an errno
    /// that abandons it: whatever it writes names the TAP before the TAP can outlive kiln.
    public static func create(owner: (uid: UInt32, gid: UInt32)?, addressed: Bool = true,
                              record: (HostTap, UInt32) -> Int32? = { _, _ in nil }) throws(HostTapError) -> HostTap {
        for index in 0..<GuestLink.count {
            let tap = HostTap(index: index)!
            var failed: UnsafePointer<CChar>?
            let fd = kiln_tap_claim(tap.name, &failed)
            if fd < 0 {
                if errno == EBUSY { continue }
                throw .system(operation: failed.map { String(cString: $0) } ?? "create", interface: tap.name, errno: errno)
            }
            let interfaceIndex = if_nametoindex(tap.name)
            guard interfaceIndex != 0 else {
                let err = errno
                close(fd)
                throw .system(operation: "if_nametoindex", interface: tap.name, errno: err)
            }
            if let err = record(tap, interfaceIndex) {
                close(fd)
                throw .system(operation: "record", interface: tap.name, errno: err)
            }
            guard kiln_tap_keep(fd, owner?.uid ?? .max, owner?.gid ?? .max, &failed) == 0 else {
                throw .system(operation: failed.map { String(cString: $0) } ?? "keep", interface: tap.name, errno: errno)
            }
            guard addressed else {
                guard kiln_interface_up(tap.name) == 0 else {
                    let error = HostTapError.system(operation: "up", interface: tap.name, errno: errno)
                    try? tap.delete()
                    throw error
                }
                return tap
            }
            let network = tap.guestNetwork
            if kiln_interface_set_ipv4(tap.name, tap.hostAddress.value, network.netmask.value, &failed) != 0 {
                let error = HostTapError.system(operation: failed.map { String(cString: $0) } ?? "address",
                                                interface: tap.name, errno: errno)
                try? tap.delete()
                throw error
            }
            return tap
        }
        throw .exhausted
    }

    /// The interface index of this TAP's name in the current network namespace, or nil when
    /// no interface has the name.
    public var interfaceIndex: UInt32? {
        let index = if_nametoindex(name)
        return index == 0 ? nil : index
    }

    /// Deletes the TAP (nothing to do when it is gone already). Fails with EBUSY while a VMM
    /// still has it attached.
    public func delete() throws(HostTapError) {
        var failed: UnsafePointer<CChar>?
        guard kiln_tap_delete(name, &failed) == 0 else {
            throw .system(operation: failed.map { String(cString: $0) } ?? "delete", interface: name, errno: errno)
        }
    }

    /// Why this process cannot create a TAP, or nil: it needs CAP_NET_ADMIN in its effective
    /// set, read from the `CapEff:` line of /proc/self/status (`status`; nil: unreadable).
    public static func privilegeProblem(procStatus status: String?) -> String? {
        let capNetAdmin: UInt64 = 1 << 12
        guard let line = status?.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingSpaces, radix: 16),
              mask & capNetAdmin != 0 else {
            return "--net needs root (CAP_NET_ADMIN) to create a TAP device"
        }
        return nil
    }
}

private extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}

public enum HostTapError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Every kilntap<k> of 172.31.0.0/16 exists.
    case exhausted
    case system(operation: String, interface: String, errno: Int32)

    public var description: String {
        switch self {
        case .exhausted:
            "no free TAP name: kilntap0 to kilntap\(GuestLink.count - 1) all exist"
        case let .system(operation, interface, errno):
            "TAP \(interface): \(operation): \(String(cString: strerror(errno)))"
        }
    }
}
