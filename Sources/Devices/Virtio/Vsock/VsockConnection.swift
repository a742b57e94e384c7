/// One stream between a guest port and a host Unix socket, with the credit accounting of
/// virtio 1.x 5.10.6.3 in both directions. Plain state; `VsockMuxer` drives it.
final class VsockConnection {
    enum State {
        /// Accepted on `uds_path`; waiting for the client's `CONNECT <port>\n`.
        case awaitingConnectLine
        /// Host-initiated: REQUEST sent (or queued) to the guest, waiting for RESPONSE.
        case awaitingResponse
        case established
        /// The host socket is gone and the guest has been told (SHUTDOWN both ways); waiting
        /// for the guest's RST, as its stream protocol requires.
        case closing
    }

    /// Control packets owed to the guest, sent ahead of data.
    struct Owed: OptionSet {
        let rawValue: UInt8
        static let request = Owed(rawValue: 1)
        static let response = Owed(rawValue: 2)
        static let creditUpdate = Owed(rawValue: 4)
        static let shutdown = Owed(rawValue: 8)
    }

    /// Host side port (the guest's destination port, or the port assigned to a host client).
    var localPort: UInt32 = 0
    /// Guest side port.
    var peerPort: UInt32 = 0
    var fd: Int32
    var state: State
    var isOpen = true
    /// Opened by a host client through `uds_path` (its local port was assigned by the muxer).
    var hostInitiated = false

    // The CONNECT line, read byte by byte so no stream byte after it is consumed.
    var connectLine: [UInt8] = []

    // Guest -> host: what the guest sent, and what reached the host socket (our fwd_cnt).
    var receivedCount: UInt32 = 0
    var forwardCount: UInt32 = 0
    var advertisedForwardCount: UInt32 = 0
    var pendingBytes: VsockPendingBytes?
    /// The host socket is watched for writability (only while `pendingBytes` has bytes).
    var writableWatched = false

    // Host -> guest: the guest's buffer and how much of what we sent it has consumed.
    var peerBufferAllocation: UInt32 = 0
    var peerForwardCount: UInt32 = 0
    var sentCount: UInt32 = 0

    var owed: Owed = []
    /// SHUTDOWN flags told (or owed) to the guest: the host will send no more / receive no more.
    var shutdownTold: UInt32 = 0
    /// shutdown(SHUT_WR) done on the host socket after the guest's SEND shutdown.
    var hostWriteShut = false
    /// SHUTDOWN flags received from the guest.
    var guestShutdown: UInt32 = 0
    /// The host socket may have bytes (an edge was seen and no read has found it empty since).
    var hostReadable = false
    var hostHungUp = false
    /// The host shut its writing side (EPOLLRDHUP): after the bytes left, a read returns 0.
    var hostPeerClosed = false
    var hostEOF = false
    /// In the muxer's RX schedule.
    var isScheduled = false

    init(fd: Int32, state: State) {
        self.fd = fd
        self.state = state
    }

    /// Bytes the guest can still take: its buf_alloc minus what is in flight. A guest that
    /// reports more consumed than was sent, or a tiny buffer, gets 0, never a wrapped value.
    var peerCredit: UInt32 {
        let inFlight = sentCount &- peerForwardCount
        return inFlight >= peerBufferAllocation ? 0 : peerBufferAllocation - inFlight
    }

    /// Bytes received from the guest and not yet written to the host socket.
    var bufferedCount: Int { pendingBytes?.count ?? 0 }

    /// True when host data can go to the guest now.
    var canSendData: Bool {
        state == .established && hostReadable && !hostEOF
            && guestShutdown & VsockHeader.shutdownReceive == 0 && peerCredit > 0
    }

    var hasWorkForGuest: Bool { isOpen && (!owed.isEmpty || canSendData) }
}
