import Devices

/// The deterministic encoding of a machine's saved devices: a version byte, the count, then
/// per device its id (namespace tag and name) and its state. Decoding treats the bytes as
/// hostile (see `StateReader`).
extension SavedDevices: StateCodable {
    public func encode(to writer: inout StateWriter) {
        writer.write(Self.version)
        writer.writeCount(devices.count)
        for device in devices {
            switch device.id {
            case .drive(let name): writer.write(UInt8(1)); writer.write(name)
            case .interface(let name): writer.write(UInt8(2)); writer.write(name)
            case .vsock: writer.write(UInt8(3))
            case .entropy: writer.write(UInt8(4))
            case .legacy(let name): writer.write(UInt8(5)); writer.write(name)
            // `DeviceInventory.save` refuses shares; the tag is kept for a complete encoding.
            case .share(let tag): writer.write(UInt8(6)); writer.write(tag)
            }
            device.state.encode(to: &writer)
        }
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        let version = try reader.read(UInt8.self, "devices version")
        guard version == Self.version else { throw .unsupportedVersion(field: "devices", version: UInt64(version)) }
        let count = try reader.readCount("devices", limit: Self.deviceLimit)
        var devices: [SavedDevice] = []
        var seen = Set<DeviceID>()
        for _ in 0..<count {
            let tag = try reader.read(UInt8.self, "device id kind")
            let id: DeviceID = switch tag {
            case 1: .drive(try reader.readString("drive id", limit: Self.idLimit))
            case 2: .interface(try reader.readString("interface id", limit: Self.idLimit))
            case 3: .vsock
            case 4: .entropy
            case 5: .legacy(try reader.readString("legacy device id", limit: Self.idLimit))
            case 6: .share(try reader.readString("share tag", limit: Self.idLimit))
            default: throw .invalidValue(field: "device id kind", value: UInt64(tag))
            }
            guard seen.insert(id).inserted else { throw .inconsistent("device id '\(id)' appears twice") }
            devices.append(SavedDevice(id: id, state: try DeviceState(from: &reader)))
        }
        self.init(devices: devices)
    }
}
