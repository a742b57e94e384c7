import CKiln
import Devices
import KVM
#if canImport(Glibc)
import Glibc
#endif

/// A TAP interface the user named, as a virtio-net backend: /dev/net/tun attached with
/// IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, a 12-byte virtio_net_hdr_v1 on every frame, and
/// non-blocking, so the device loop reads it only when epoll says so. Owns the descriptor.
///
/// The interface may exist already (`ip tuntap add NAME mode tap`, owned by whoever runs
/// Kiln) or be created here, which needs CAP_NET_ADMIN; either way it is opened before the
/// jail and the filters, which allow only reads, writes and TUNSETOFFLOAD on it.
public final class Tap: NetBackend {
    // linux/if_tun.h
    static let setInterface: UInt = 0x4004_54CA          // TUNSETIFF, _IOW('T', 202, int)
    static let setOffload: UInt = 0x4004_54D0            // TUNSETOFFLOAD, _IOW('T', 208, unsigned int)
    static let setVnetHeaderSize: UInt = 0x4004_54D8     // TUNSETVNETHDRSZ, _IOW('T', 216, int)
    static let flagTap: UInt16 = 0x0002
    static let flagNoPacketInfo: UInt16 = 0x1000
    static let flagVnetHeader: UInt16 = 0x4000
    /// IFNAMSIZ, including the terminating NUL.
    static let nameCapacity = 16

    public let name: String
    public let fileDescriptor: Int32

    /// Attaches to (or creates) the TAP interface `name`.
    public init(name: String) throws(TapError) {
        guard Self.isValidName(name) else { throw .invalidName(name) }
        let fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw .system(operation: "open /dev/net/tun", interface: name, errno: errno) }
        // struct ifreq: ifr_name[16], then a 24-byte union whose first member is ifr_flags.
        var request = [UInt8](repeating: 0, count: 40)
        request.replaceSubrange(0..<name.utf8.count, with: name.utf8)
        let flags = Self.flagTap | Self.flagNoPacketInfo | Self.flagVnetHeader
        request[16] = UInt8(truncatingIfNeeded: flags)
        request[17] = UInt8(truncatingIfNeeded: flags >> 8)
        var headerSize = Int32(NetHeader.size)
        let failure: (String, Int32)? = request.withUnsafeMutableBytes { bytes in
            if kiln_ioctl_ptr(fd, Self.setInterface, bytes.baseAddress) != 0 { return ("TUNSETIFF", errno) }
            if kiln_ioctl_ptr(fd, Self.setVnetHeaderSize, &headerSize) != 0 { return ("TUNSETVNETHDRSZ", errno) }
            return nil
        }
        if let (operation, error) = failure {
            close(fd)
            throw .system(operation: operation, interface: name, errno: error)
        }
        self.name = name
        fileDescriptor = fd
    }

    deinit { close(fileDescriptor) }

    /// 1 to 15 bytes (IFNAMSIZ less the NUL), no '/', whitespace, ':' or NUL; not "." or "..".
    /// The kernel's dev_valid_name rules, checked here for a clear message.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count < nameCapacity, name != ".", name != ".." else { return false }
        return bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") }
    }

    public func receive(into buffers: UnsafeBufferPointer<iovec>) throws(NetBackendError) -> Int? {
        try FrameIO.receive(fileDescriptor, into: buffers)
    }

    public func send(_ buffers: UnsafeBufferPointer<iovec>) throws(NetBackendError) {
        try FrameIO.send(fileDescriptor, buffers)
    }

    /// TUNSETOFFLOAD: which segmentation and checksum work the kernel may leave to the guest.
    public func setOffloads(_ offloads: NetOffloads) throws(NetBackendError) {
        guard kiln_ioctl_val(fileDescriptor, Self.setOffload, UInt(offloads.rawValue)) == 0 else {
            throw NetBackendError(operation: "TUNSETOFFLOAD on \(name)", errno: errno)
        }
    }
}

public enum TapError: Error, Equatable, CustomStringConvertible {
    case invalidName(String)
    case system(operation: String, interface: String, errno: Int32)

    public var description: String {
        switch self {
        case let .invalidName(name):
            "invalid TAP interface name '\(name)' (1-15 characters, no '/', ':' or whitespace)"
        case let .system(operation, interface, errno):
            "TAP \(interface): \(operation) failed: \(errnoName(errno))"
        }
    }
}
