import Devices
#if canImport(Glibc)
import Glibc
#endif

/// The virtio-vsock device as the user configured it (Firecracker's `PUT /vsock` body:
/// `guest_cid`, `uds_path`).
public struct VsockConfig: Sendable, Equatable {
    /// CIDs 0-2 are reserved (hypervisor, local, host); the top value is VMADDR_CID_ANY, and
    /// Linux's CIDs are 32-bit.
    public static let cidRange: ClosedRange<UInt64> = 3...0xFFFF_FFFE
    /// `sun_path` holds 107 bytes; guest connections add `_<port>` (up to 11 bytes).
    public static let maxPathLength = 107 - 11

    public var guestCID: UInt64
    public var udsPath: String

    public init(guestCID: UInt64, udsPath: String) {
        self.guestCID = guestCID
        self.udsPath = udsPath
    }

    func validate() throws(VMMError) {
        guard Self.cidRange.contains(guestCID) else {
            throw .invalidConfiguration("vsock guest CID \(guestCID) is outside 3...\(Self.cidRange.upperBound)")
        }
        guard !udsPath.isEmpty, !udsPath.utf8.contains(0) else {
            throw .invalidConfiguration("vsock uds_path must be a non-empty path without NUL bytes")
        }
        guard udsPath.utf8.count <= Self.maxPathLength else {
            throw .invalidConfiguration("vsock uds_path '\(udsPath)' is longer than \(Self.maxPathLength) bytes")
        }
        // A socket a killed VMM left is taken over when the device binds (VsockHostSockets.listen).
        var info = stat()
        guard lstat(udsPath, &info) != 0 || StaleSocket.isStale(udsPath) else {
            throw .invalidConfiguration("vsock uds_path '\(udsPath)' already exists and is not a stale socket (another VM listening, or not a socket)")
        }
    }
}
