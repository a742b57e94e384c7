import Devices

/// The id clients know a device by. Drives and interfaces have separate namespaces (as in
/// Firecracker, a drive and an interface may both be called "root"), hence the cases.
public enum DeviceID: Hashable, Sendable, CustomStringConvertible {
    /// A drive's `drive_id`, or `drive0`, `drive1`... for a drive named on the command line.
    case drive(String)
    /// A network interface's `iface_id`.
    case interface(String)
    case vsock
    case entropy
    /// A shared directory's virtio-fs device, by its tag.
    case share(String)
    /// serial, i8042, acpi-sleep, pvpanic, boot-timer.
    case legacy(String)

    public var description: String {
        switch self {
        case .drive(let id), .interface(let id), .legacy(let id): id
        case .share(let tag): "share:\(tag)"
        case .vsock: "vsock"
        case .entropy: "entropy"
        }
    }
}

/// Where a device answers on a bus.
struct DeviceWindow: Equatable {
    let space: BusAddressSpace
    let base: UInt64
    let length: UInt64
}

/// How a virtio device is wired: its transport, and one ioeventfd per queue so that queue
/// notifications reach the device loop without a vCPU exit.
struct VirtioWiring {
    let transport: MMIOTransport
    let notifiers: [QueueNotifier]
    /// The device's descriptors on the device loop; kept here so they live as long as the machine.
    let events: TransportEvents
}

/// One device of the machine, with everything the VMM holds for it.
struct DeviceEntry {
    let id: DeviceID
    let kind: DeviceKind
    let window: DeviceWindow
    /// The irqfd the device interrupts through (its GSI is `interrupt.gsi`), if it interrupts.
    let interrupt: IRQFDLine?
    /// Set exactly for the virtio kinds.
    let virtio: VirtioWiring?

    var transport: MMIOTransport? { virtio?.transport }

    /// What the bus dispatches this device's window to: a virtio device is reached only through
    /// its transport.
    var busDevice: any BusDevice {
        switch kind {
        case .block, .net, .vsock, .rng, .fs:
            // `VirtioDevices.attach` is the only place that makes virtio entries, always wired.
            virtio!.transport
        case .serial(let serial): serial
        case .i8042(let i8042): i8042
        case .bootTimer(let timer): timer
        case .sleepControl(let control): control
        case .pvpanic(let pvpanic): pvpanic
        }
    }
}

/// Every device of one machine, keyed by id and kept in bus order (the order the guest
/// enumerates virtio devices in). Built once by `MachineBuilder`; metrics, updates, teardown and
/// snapshot go through it instead of recomputing the order.
struct DeviceInventory {
    /// A machine has a few dozen devices at most, so lookups by id search this list. (A
    /// dictionary keyed by `DeviceID` made the runtime scan every protocol conformance in the
    /// binary at start-up, ~0.3 M instructions, more than the searches will ever cost.)
    private(set) var entries: [DeviceEntry] = []

    /// Adds `entry` after the others; an id may be used once.
    mutating func add(_ entry: DeviceEntry) throws(VMMError) {
        guard self[id: entry.id] == nil else {
            throw .invalidConfiguration("device id '\(entry.id)' is used twice")
        }
        entries.append(entry)
    }

    subscript(id id: DeviceID) -> DeviceEntry? { entries.first { $0.id == id } }

    /// Puts every device on the bus of its window's address space.
    func place(portBus: inout Bus, mmioBus: inout Bus) throws(VMMError) {
        for entry in entries {
            do {
                switch entry.window.space {
                case .portIO: try portBus.insert(entry.busDevice, base: entry.window.base, length: entry.window.length)
                case .mmio: try mmioBus.insert(entry.busDevice, base: entry.window.base, length: entry.window.length)
                }
            } catch { throw .boot("device layout: \(entry.id): \(error)") }
        }
    }

    /// Queue events serviced plus interrupts raised by every virtio device, for halt detection.
    var virtioActivity: UInt64 {
        entries.reduce(0) { total, entry in
            guard let (events, interrupts) = entry.transport?.counters else { return total }
            return total &+ events &+ interrupts
        }
    }

    /// Releases what devices hold outside the process once every thread has ended.
    func tearDown() {
        for entry in entries {
            switch entry.kind {
            // Its listening socket file would otherwise stay behind in the file system.
            case .vsock(let vsock): vsock.closeHostSide()
            // The file server's descriptors close with it.
            case .block, .net, .rng, .fs, .serial, .i8042, .bootTimer, .sleepControl, .pvpanic: break
            }
        }
    }
}
