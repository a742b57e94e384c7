import Devices

/// One device of a machine in a snapshot: its id and its state.
public struct SavedDevice: Equatable, Sendable {
    public var id: DeviceID
    public var state: DeviceState

    public init(id: DeviceID, state: DeviceState) {
        self.id = id
        self.state = state
    }
}

/// Every device of a machine in a snapshot, in bus order: what `DeviceInventory.save()` reads
/// and `restore(_:)` puts back into a machine built from the same configuration.
public struct SavedDevices: Equatable, Sendable {
    public var devices: [SavedDevice]

    public init(devices: [SavedDevice]) { self.devices = devices }

    /// More devices than a machine has (10 virtio devices and 5 legacy ones): bounds decoding.
    static let deviceLimit = 64
    static let idLimit = 256
    static let version: UInt8 = 1
}

/// Why saved devices cannot be restored into a machine; nothing was restored.
public enum DeviceSnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The machine has another number of devices than the snapshot.
    case deviceCount(saved: Int, machine: Int)
    /// Device `index` has another id in the machine than in the snapshot.
    case deviceID(index: Int, saved: String, machine: String)
    /// The device with this id is of another kind in the machine.
    case deviceKind(id: String, saved: String, machine: String)
    /// The device's state was refused.
    case device(id: String, SnapshotStateError)
    /// The machine has a device whose state cannot be saved (a virtio-fs share: its guest
    /// inodes are host descriptors, which a snapshot cannot carry); nothing was written.
    case unsupportedDevice(id: String, kind: String)

    public var description: String {
        switch self {
        case let .deviceCount(saved, machine): "snapshot has \(saved) devices, the machine \(machine)"
        case let .deviceID(index, saved, machine): "device \(index) is '\(saved)' in the snapshot, '\(machine)' in the machine"
        case let .deviceKind(id, saved, machine): "device '\(id)' is a \(saved) in the snapshot, a \(machine) in the machine"
        case let .device(id, error): "device '\(id)': \(error)"
        case let .unsupportedDevice(id, kind):
            "device '\(id)' (\(kind)) cannot be saved in a snapshot: start the VM without it to take snapshots"
        }
    }
}

extension DeviceInventory {
    /// Every device's state, in bus order. Call it with nothing running on the devices: vCPUs
    /// paused and inside `EventLoop.quiesce` (or before the loop runs). Async block requests in
    /// flight are completed first (see `MMIOTransport.save`). A machine with a device that
    /// cannot be saved is refused before any state is read.
    func save() throws(DeviceSnapshotError) -> SavedDevices {
        for entry in entries {
            switch entry.kind {
            case .fs: throw .unsupportedDevice(id: entry.id.description, kind: entry.kind.name)
            case .block, .net, .vsock, .rng, .serial, .i8042, .bootTimer, .sleepControl, .pvpanic: continue
            }
        }
        return SavedDevices(devices: entries.map { entry in
            let state: DeviceState = switch entry.kind {
            case .block(let block): .block(Self.transport(entry).save(block))
            case .net(let net): .net(Self.transport(entry).save(net))
            case .vsock(let vsock): .vsock(Self.transport(entry).save(vsock))
            case .rng(let rng): .rng(Self.transport(entry).save(rng))
            case .fs: preconditionFailure("refused above")
            case .serial(let serial): .serial(serial.saveState())
            case .i8042(let i8042): .i8042(i8042.saveState())
            case .bootTimer(let timer): .bootTimer(timer.saveState())
            case .sleepControl(let control): .sleepControl(control.saveState())
            case .pvpanic(let pvpanic): .pvpanic(pvpanic.saveState())
            }
            return SavedDevice(id: entry.id, state: state)
        })
    }

    /// Puts `saved` into this machine's devices, which must not have started (a machine built
    /// from the snapshot's configuration, before its threads run): same ids in the same order,
    /// same kinds. Every device's state is checked before any is applied, so a snapshot that
    /// does not fit changes nothing; only a device that refuses its features again (a TAP
    /// refusing offloads) can fail midway, and that machine is not to be started.
    func restore(_ saved: SavedDevices) throws(DeviceSnapshotError) {
        guard saved.devices.count == entries.count else {
            throw .deviceCount(saved: saved.devices.count, machine: entries.count)
        }
        for (index, (entry, device)) in zip(entries, saved.devices).enumerated() where entry.id != device.id {
            throw .deviceID(index: index, saved: device.id.description, machine: entry.id.description)
        }
        for (entry, device) in zip(entries, saved.devices) {
            do throws(SnapshotStateError) { try Self.restore(device.state, into: entry, apply: false) } catch {
                throw Self.refusal(error, entry: entry, state: device.state)
            }
        }
        for (entry, device) in zip(entries, saved.devices) {
            do throws(SnapshotStateError) { try Self.restore(device.state, into: entry, apply: true) } catch {
                throw Self.refusal(error, entry: entry, state: device.state)
            }
        }
    }

    private static func refusal(_ error: SnapshotStateError, entry: DeviceEntry, state: DeviceState) -> DeviceSnapshotError {
        if case let .wrongDeviceKind(saved, machine) = error {
            return .deviceKind(id: entry.id.description, saved: saved, machine: machine)
        }
        return .device(id: entry.id.description, error)
    }

    /// Checks (`apply` false) or restores one device's state; the kinds must agree.
    private static func restore(_ state: DeviceState, into entry: DeviceEntry, apply: Bool) throws(SnapshotStateError) {
        switch (entry.kind, state) {
        case let (.block(device), .block(saved)):
            apply ? try transport(entry).restore(saved, into: device) : try transport(entry).validate(saved, for: device)
        case let (.net(device), .net(saved)):
            apply ? try transport(entry).restore(saved, into: device) : try transport(entry).validate(saved, for: device)
        case let (.vsock(device), .vsock(saved)):
            apply ? try transport(entry).restore(saved, into: device) : try transport(entry).validate(saved, for: device)
        case let (.rng(device), .rng(saved)):
            apply ? try transport(entry).restore(saved, into: device) : try transport(entry).validate(saved, for: device)
        case let (.serial(device), .serial(saved)):
            apply ? try device.restore(saved) : try saved.validate()
        case let (.i8042(device), .i8042(saved)):
            apply ? try device.restore(saved) : try saved.validate()
        case let (.bootTimer(device), .bootTimer(saved)):
            if apply { device.restore(saved) }
        case let (.sleepControl(device), .sleepControl(saved)):
            if apply { device.restore(saved) }
        case let (.pvpanic(device), .pvpanic(saved)):
            if apply { device.restore(saved) }
        // No saved state is ever a share's (see `save`): a machine with one refuses the snapshot.
        case (.fs, _):
            throw .wrongDeviceKind(saved: state.kindName, device: entry.kind.name)
        case (.block, _), (.net, _), (.vsock, _), (.rng, _), (.serial, _), (.i8042, _), (.bootTimer, _),
             (.sleepControl, _), (.pvpanic, _):
            throw .wrongDeviceKind(saved: state.kindName, device: entry.kind.name)
        }
    }

    /// A virtio entry's transport: `VirtioDevices.attach` makes every virtio entry wired.
    private static func transport(_ entry: DeviceEntry) -> MMIOTransport { entry.virtio!.transport }
}

extension DeviceKind {
    /// The kind's name, as `DeviceState.kindName` spells it.
    var name: String {
        switch self {
        case .block: "block"
        case .net: "net"
        case .vsock: "vsock"
        case .rng: "entropy"
        case .fs: "virtio-fs"
        case .serial: "serial"
        case .i8042: "i8042"
        case .bootTimer: "boot-timer"
        case .sleepControl: "acpi-sleep"
        case .pvpanic: "pvpanic"
        }
    }
}
