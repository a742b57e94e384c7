/// Any device's saved state, tagged with its kind: one entry of a machine's device list in a
/// snapshot. The encoding starts with a kind tag and a version byte, so a later build can
/// read (or clearly refuse) what this one wrote.
public enum DeviceState: Equatable, Sendable {
    case block(VirtioState<BlockState>)
    case net(VirtioState<NetState>)
    case vsock(VirtioState<VsockState>)
    case rng(VirtioState<RngState>)
    case serial(SerialState)
    case i8042(I8042SavedState)
    case bootTimer(OneShotState)
    case sleepControl(OneShotState)
    case pvpanic(OneShotState)

    /// The version of every kind's encoding this build writes and reads.
    public static let version: UInt8 = 1

    /// The kind's name, for errors.
    public var kindName: String {
        switch self {
        case .block: "block"
        case .net: "net"
        case .vsock: "vsock"
        case .rng: "entropy"
        case .serial: "serial"
        case .i8042: "i8042"
        case .bootTimer: "boot-timer"
        case .sleepControl: "acpi-sleep"
        case .pvpanic: "pvpanic"
        }
    }

    private var tag: UInt8 {
        switch self {
        case .block: 1
        case .net: 2
        case .vsock: 3
        case .rng: 4
        case .serial: 5
        case .i8042: 6
        case .bootTimer: 7
        case .sleepControl: 8
        case .pvpanic: 9
        }
    }
}

extension DeviceState: StateCodable {
    public func encode(to writer: inout StateWriter) {
        writer.write(tag)
        writer.write(Self.version)
        switch self {
        case .block(let state): state.encode(to: &writer)
        case .net(let state): state.encode(to: &writer)
        case .vsock(let state): state.encode(to: &writer)
        case .rng(let state): state.encode(to: &writer)
        case .serial(let state): state.encode(to: &writer)
        case .i8042(let state): state.encode(to: &writer)
        case .bootTimer(let state), .sleepControl(let state), .pvpanic(let state): state.encode(to: &writer)
        }
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        let tag = try reader.read(UInt8.self, "device kind")
        let version = try reader.read(UInt8.self, "device state version")
        guard version == Self.version else { throw .unsupportedVersion(field: "device state", version: UInt64(version)) }
        switch tag {
        case 1: self = .block(try VirtioState(from: &reader))
        case 2: self = .net(try VirtioState(from: &reader))
        case 3: self = .vsock(try VirtioState(from: &reader))
        case 4: self = .rng(try VirtioState(from: &reader))
        case 5: self = .serial(try SerialState(from: &reader))
        case 6: self = .i8042(try I8042SavedState(from: &reader))
        case 7: self = .bootTimer(try OneShotState(from: &reader))
        case 8: self = .sleepControl(try OneShotState(from: &reader))
        case 9: self = .pvpanic(try OneShotState(from: &reader))
        default: throw .invalidValue(field: "device kind", value: UInt64(tag))
        }
    }
}
