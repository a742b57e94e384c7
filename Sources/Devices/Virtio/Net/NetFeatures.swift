/// virtio-net feature bits (virtio 1.x 5.1.3) that Kiln offers, and the header every frame
/// carries (5.1.6).
public enum NetFeature {
    /// The driver may hand over frames with a partial checksum (the host completes it).
    public static let checksum: UInt64 = 1 << 0
    /// The driver accepts frames with a partial checksum.
    public static let guestChecksum: UInt64 = 1 << 1
    /// `mac` in config space is the device's address.
    public static let mac: UInt64 = 1 << 5
    /// The driver accepts TCPv4 / TCPv6 segmentation-offload frames (up to 64 KiB).
    public static let guestTSO4: UInt64 = 1 << 7
    public static let guestTSO6: UInt64 = 1 << 8
    /// The driver may hand over TCPv4 / TCPv6 frames for the host to segment.
    public static let hostTSO4: UInt64 = 1 << 11
    public static let hostTSO6: UInt64 = 1 << 12
    /// One received frame may span several RX chains (`num_buffers` says how many).
    public static let mergeableRxBuffers: UInt64 = 1 << 15
    /// `status` in config space is valid.
    public static let status: UInt64 = 1 << 16

    /// What the device offers; the transport adds VERSION_1, EVENT_IDX and INDIRECT_DESC.
    public static let offered: UInt64 = checksum | guestChecksum | mac | guestTSO4 | guestTSO6
        | hostTSO4 | hostTSO6 | mergeableRxBuffers | status
}

/// `struct virtio_net_hdr_v1` (5.1.6): flags u8, gso_type u8, hdr_len le16, gso_size le16,
/// csum_start le16, csum_offset le16, num_buffers le16. With VERSION_1 it is always 12 bytes
/// and always present, whether or not MRG_RXBUF was negotiated.
public enum NetHeader {
    public static let size = 12
    /// Byte offset of num_buffers, which the device fills on receive.
    public static let numBuffersOffset = 10
    /// The largest frame Linux builds with TSO (64 KiB of IP plus an Ethernet/VLAN header),
    /// header included: Firecracker's bound and Linux's big-packet receive size.
    public static let maxFrameWithHeader = 65562
}

/// The TAP offloads (linux/if_tun.h TUN_F_*): which frames the host may give the guest
/// unsegmented or without a checksum. Derived from what the guest accepted.
public struct NetOffloads: OptionSet, Sendable, Equatable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let checksum = NetOffloads(rawValue: 0x01)
    public static let tso4 = NetOffloads(rawValue: 0x02)
    public static let tso6 = NetOffloads(rawValue: 0x04)

    /// TSO needs checksum offload too: Linux refuses TUN_F_TSO* without TUN_F_CSUM, and a
    /// guest that did not take GUEST_CSUM cannot take GUEST_TSO* (5.1.3.1).
    public init(guestFeatures: UInt64) {
        var offloads: NetOffloads = []
        if guestFeatures & NetFeature.guestChecksum != 0 {
            offloads.insert(.checksum)
            if guestFeatures & NetFeature.guestTSO4 != 0 { offloads.insert(.tso4) }
            if guestFeatures & NetFeature.guestTSO6 != 0 { offloads.insert(.tso6) }
        }
        self = offloads
    }
}
