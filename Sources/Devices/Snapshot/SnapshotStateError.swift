/// Why saved device state was refused: it could not be decoded, or it does not fit the device
/// it is restored into. Either way nothing of the device has changed.
public enum SnapshotStateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The encoding ends inside `field`.
    case truncated(field: String)
    /// Bytes follow the last field.
    case trailingBytes(Int)
    /// `field` holds a value no device could be in (a bad tag, a bool of 7, bits the field
    /// does not have, an index outside its queue).
    case invalidValue(field: String, value: UInt64)
    /// A count above what the field can hold.
    case tooMany(field: String, count: UInt64, limit: UInt64)
    /// The state was saved from a device that differs from this one in `field` (its type,
    /// features, queue sizes, config, MAC, CID...).
    case mismatch(field: String, saved: UInt64, device: UInt64)
    /// A ring or buffer of the state lies outside guest memory, or is misaligned.
    case outsideMemory(field: String, address: UInt64)
    /// Two fields contradict each other (e.g. DRIVER_OK without activation and no NEEDS_RESET).
    case inconsistent(String)
    /// State is restored only into a device fresh from its construction or a reset.
    case deviceInUse
    /// The device refused the negotiated features again (e.g. a TAP refused its offloads).
    case activationFailed(String)
    /// The state is for another kind of device (a block state for a net device).
    case wrongDeviceKind(saved: String, device: String)
    /// A state encoding of a version this build does not read.
    case unsupportedVersion(field: String, version: UInt64)

    public var description: String {
        switch self {
        case let .truncated(field): "device state truncated in \(field)"
        case let .trailingBytes(count): "device state has \(count) unexpected trailing bytes"
        case let .invalidValue(field, value): "device state: invalid \(field) (\(value))"
        case let .tooMany(field, count, limit): "device state: \(field) count \(count) exceeds \(limit)"
        case let .mismatch(field, saved, device):
            "device state does not fit the device: \(field) saved 0x\(String(saved, radix: 16)), device 0x\(String(device, radix: 16))"
        case let .outsideMemory(field, address):
            "device state: \(field) at 0x\(String(address, radix: 16)) is outside guest memory or misaligned"
        case let .inconsistent(why): "device state is inconsistent: \(why)"
        case .deviceInUse: "device state can only be restored into a device that has not started"
        case let .activationFailed(why): "restored device could not be activated: \(why)"
        case let .wrongDeviceKind(saved, device): "device state of a \(saved) cannot be restored into a \(device)"
        case let .unsupportedVersion(field, version): "device state: \(field) version \(version) is not supported"
        }
    }
}
