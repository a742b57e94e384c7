/// What the device does with a packet the guest put on the TX queue, decided from the header
/// alone before any connection state is touched. Every guest-written field is checked.
public enum VsockPacketCheck: Equatable, Sendable {
    /// Well-formed: hand it to the connection it names.
    case accept(VsockHeader.Op)
    /// Answer with a RST (when the packet is not itself a RST) and drop it.
    case reset(VsockRejection)
    /// Drop it silently: a reply could not be addressed (wrong CIDs) or would be a RST to a RST.
    case drop(VsockRejection)

    /// - Parameters:
    ///   - payloadBytes: device-readable bytes after the header in the chain.
    ///   - maxPayload: the largest RW payload the device accepts.
    public static func check(_ header: VsockHeader, guestCID: UInt64, payloadBytes: Int,
                             maxPayload: Int) -> VsockPacketCheck {
        guard header.sourceCID == guestCID else { return .drop(.sourceCID) }
        guard header.destinationCID == VsockHeader.hostCID else { return .drop(.destinationCID) }
        let isReset = header.op == VsockHeader.Op.rst.rawValue
        func refuse(_ reason: VsockRejection) -> VsockPacketCheck { isReset ? .drop(reason) : .reset(reason) }
        guard header.type == VsockHeader.typeStream else { return refuse(.type) }
        guard let op = header.knownOp, op != .invalid else { return refuse(.op) }
        switch op {
        case .rw:
            guard header.length > 0, Int(header.length) <= maxPayload else { return refuse(.length) }
            guard Int(header.length) <= payloadBytes else { return refuse(.length) }
            guard header.flags == 0 else { return refuse(.flags) }
        case .shutdown:
            guard header.length == 0 else { return refuse(.length) }
            guard header.flags & ~VsockHeader.shutdownBoth == 0, header.flags != 0 else { return refuse(.flags) }
        default:
            guard header.length == 0 else { return refuse(.length) }
            guard header.flags == 0 else { return refuse(.flags) }
        }
        return .accept(op)
    }
}

/// Why a guest packet was refused (counted in the metrics, shown in tests).
public enum VsockRejection: Equatable, Sendable {
    case chain          // descriptor errors, a device-writable buffer, shorter than a header
    case sourceCID
    case destinationCID
    case type
    case op
    case length
    case flags
}
