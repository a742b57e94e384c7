/// What a vsock device has done (a snapshot taken under the device's lock).
public struct VsockCounters: Equatable, Sendable {
    /// Packets taken from the TX queue and put on the RX queue.
    public var packetsFromGuest: UInt64 = 0
    public var packetsToGuest: UInt64 = 0
    public var bytesToHost: UInt64 = 0
    public var bytesToGuest: UInt64 = 0
    /// Reads of host sockets for guest data: one can fill many RX buffers.
    public var hostReads: UInt64 = 0
    /// Guest packets refused by `VsockPacketCheck` or with a malformed chain.
    public var rejectedPackets: UInt64 = 0
    /// RX chains returned unused because they were malformed or shorter than a header.
    public var rejectedRxBuffers: UInt64 = 0
    /// RW packets beyond the credit the device had granted (the connection is reset).
    public var creditViolations: UInt64 = 0
    public var connectionsOpened: UInt64 = 0
    public var connectionsClosed: UInt64 = 0
    /// Guest connection requests refused (nobody listening, too many connections).
    public var connectionsRefused: UInt64 = 0
    /// Times a failed accept (no descriptors left) paused the `uds_path` listener.
    public var acceptsDeferred: UInt64 = 0
    public var resetsSent: UInt64 = 0
    /// RST replies dropped because too many were waiting for RX buffers.
    public var resetsDropped: UInt64 = 0

    public init() {}
}
