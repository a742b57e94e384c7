import CKiln
import Devices
import GuestMemory
import KVM
import X86Boot
#if canImport(Glibc)
import Glibc
#endif

/// A drive as the user configured it: a host file, optionally read-only, optionally rate limited.
public struct DriveConfig: Sendable, Equatable {
    public var path: String
    public var readOnly: Bool
    public var rateLimiter: RateLimiterConfig
    /// Firecracker's `io_engine`; `Async` falls back to `Sync` (with a log line) where io_uring
    /// is unavailable.
    public var ioEngine: BlockIOEngine
    /// Firecracker's `drive_id`; nil for drives named on the command line, which are known by
    /// their place instead (`drive0`, `drive1`...).
    public var id: String?

    /// The engine a drive gets when its configuration does not name one: Async, by blk-bench
    /// (cold reads 1.2-5.7x Sync's, warm reads at or above Sync, writes at Sync's speed since
    /// they run on the drive's thread; README, Benchmarks).
    public static let defaultIOEngine = BlockIOEngine.async

    public init(path: String, readOnly: Bool, rateLimiter: RateLimiterConfig = .unlimited,
                ioEngine: BlockIOEngine = defaultIOEngine, id: String? = nil) {
        self.id = id
        self.path = path
        self.readOnly = readOnly
        self.rateLimiter = rateLimiter
        self.ioEngine = ioEngine
    }

    /// The same disk set-up: the id names the drive but gives the guest nothing different, so
    /// configurations from the API and the command line compare equal.
    public static func == (lhs: DriveConfig, rhs: DriveConfig) -> Bool {
        lhs.path == rhs.path && lhs.readOnly == rhs.readOnly && lhs.rateLimiter == rhs.rateLimiter
            && lhs.ioEngine == rhs.ioEngine
    }
}

/// Puts the configured virtio devices on the MMIO bus: each gets a 4 KiB window after the boot
/// marker, its own IRQ (an irqfd), one ioeventfd per queue serviced by its loop (a drive's own,
/// or the device loop: `DeviceLoops`), and a
/// description the guest finds it by: a DSDT entry (ACPI) or a `virtio_mmio.device=` entry on
/// the kernel command line (no ACPI).
enum VirtioDevices {
    /// ISA IRQs free on our machine (4 is the UART); edge-triggered, as irqfd injects them.
    static let irqs: [UInt32] = [5, 6, 7, 9, 10, 11, 12, 13, 14, 15]

    struct Attached {
        /// `virtio_mmio.device=` entries, for a guest booted without ACPI.
        let commandLineEntries: [String]
        /// DSDT entries: with hardware-reduced ACPI Linux maps only interrupts ACPI describes.
        let acpiDevices: [ACPIVirtioDevice]
        /// One per device, in bus order, for the machine's inventory.
        let entries: [DeviceEntry]
    }

    /// Wires `devices` (id and kind, in bus order) to KVM and their loops. Kinds that are not
    /// virtio are refused: they have no transport.
    static func attach(_ devices: [(id: DeviceID, kind: DeviceKind)], vm: VirtualMachine, memory: GuestMemory,
                       loops: DeviceLoops) throws(VMMError) -> Attached {
        guard devices.count <= irqs.count else {
            throw .invalidConfiguration("too many virtio devices (\(devices.count)); at most \(irqs.count)")
        }
        var commandLineEntries: [String] = []
        var acpiDevices: [ACPIVirtioDevice] = []
        var entries: [DeviceEntry] = []
        var drives = 0
        for (index, (id, kind)) in devices.enumerated() {
            guard let device = kind.virtioDevice else { throw .invalidConfiguration("device \(id) is not a virtio device") }
            if case .block = kind, drives == loops.drives.count {
                throw .invalidConfiguration("drive \(id) has no loop of its own")
            }
            let loop = loops.loop(for: kind, driveIndex: drives)
            if case .block = kind { drives += 1 }
            let base = Layout.virtioMMIOStart.rawValue + UInt64(index) * Layout.virtioMMIOSize
            let irq = irqs[index]
            let line = try IRQFDLine(vm: vm, gsi: irq)
            let transport = MMIOTransport(device: device, memory: memory, interrupt: line)
            var notifiers: [QueueNotifier] = []
            for queue in 0..<transport.queueCount {
                let notifier = try QueueNotifier(vm: vm, address: base + MMIOTransport.queueNotifyOffset, queue: queue)
                try loop.add(notifier.eventFD, events: KILN_EPOLLIN) { _ in
                    notifier.consume()
                    transport.processQueue(queue)
                }
                notifiers.append(notifier)
            }
            let events = TransportEvents(loop: loop, transport: transport)
            do { try kind.eventDrivenDevice?.connect(events: events) } catch {
                throw .thread(operation: "virtio device \(index): \(error.operation)", errno: error.errno)
            }
            entries.append(DeviceEntry(id: id, kind: kind,
                                       window: DeviceWindow(space: .mmio, base: base, length: MMIOTransport.windowSize),
                                       interrupt: line,
                                       virtio: VirtioWiring(transport: transport, notifiers: notifiers, events: events)))
            commandLineEntries.append("virtio_mmio.device=4K@0x\(String(base, radix: 16)):\(irq)")
            acpiDevices.append(ACPIVirtioDevice(base: base, size: MMIOTransport.windowSize, gsi: irq))
        }
        return Attached(commandLineEntries: commandLineEntries, acpiDevices: acpiDevices, entries: entries)
    }
}

/// An ioeventfd for one queue's QueueNotify write: KVM signals it without exiting to the vCPU
/// thread, and the device loop processes the queue.
final class QueueNotifier: @unchecked Sendable {
    let eventFD: Int32

    init(vm: VirtualMachine, address: UInt64, queue: Int) throws(VMMError) {
        let fd = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        guard fd >= 0 else { throw .thread(operation: "eventfd for queue \(queue)", errno: errno) }
        do {
            try vm.registerIOEventFD(eventFD: fd, address: address, length: 4, datamatch: UInt64(queue))
        } catch {
            close(fd)
            throw .kvm(error)
        }
        eventFD = fd
    }

    deinit { close(eventFD) }

    func consume() {
        var value: UInt64 = 0
        _ = kiln_eventfd_consume(eventFD, &value)
    }
}

/// `DeviceEvents` for one device: its descriptors join the device loop, and `serviceQueue`
/// goes through its transport.
final class TransportEvents: DeviceEvents, @unchecked Sendable {
    private unowned let loop: EventLoop
    private unowned let transport: MMIOTransport

    init(loop: EventLoop, transport: MMIOTransport) {
        self.loop = loop
        self.transport = transport
    }

    func watch(_ fd: Int32, for events: DeviceEventMask,
               handler: @escaping (DeviceEventMask) -> Void) throws(DeviceEventsError) {
        do {
            try loop.add(fd, events: events.rawValue) { handler(DeviceEventMask(rawValue: $0)) }
        } catch {
            throw DeviceEventsError(operation: "epoll_ctl ADD fd \(fd)", errno: errno)
        }
    }

    func rewatch(_ fd: Int32, for events: DeviceEventMask) { loop.modify(fd, events: events.rawValue) }
    func unwatch(_ fd: Int32) { loop.remove(fd) }
    @discardableResult
    func serviceQueue(_ queue: Int) -> Bool { transport.processQueue(queue) }
}
