import GuestMemory
import Synchronization

/// A virtio device behind the virtio-mmio version 2 register window (virtio 1.x, 4.2).
///
/// vCPU threads read and write registers through `BusDevice`; the VMM's device thread calls
/// `processQueue(_:)` when a queue's ioeventfd fires (a QueueNotify write that reaches this
/// object does the same inline, so a VM without ioeventfd still works). Interrupts leave
/// through `interrupt`, an irqfd in the VMM.
///
/// Locking, so that a vCPU is never stuck behind disk I/O: the register lock guards
/// `TransportRegisters`; each queue has its own lock, held by `processQueue` while the device
/// works; InterruptStatus, NEEDS_RESET and "activated" are atomics readable without either.
/// Lock order is register → queue → (device's own); nothing takes them the other way.
public final class MMIOTransport: BusDevice {
    /// The window the VMM maps for each device (`virtio_mmio.device=4K@...`).
    public static let windowSize: UInt64 = 0x1000
    /// Where the VMM registers an ioeventfd per queue, with the queue index as datamatch.
    public static let queueNotifyOffset: UInt64 = MMIORegister.queueNotify
    public var queueNotifyOffset: UInt64 { Self.queueNotifyOffset }

    public let device: any VirtioDevice
    // Internal rather than private for the snapshot's save and restore (MMIOTransport+Snapshot).
    let memory: GuestMemory
    let interrupt: any InterruptLine
    let offeredFeatures: UInt64
    let registers = Mutex(TransportRegisters())
    let queues: [QueueSlot]
    let interruptBits = Atomic<UInt32>(0)
    let deviceNeedsReset = Atomic<Bool>(false)
    let activated = Atomic<Bool>(false)
    private let queueEvents = Atomic<UInt64>(0)
    let interruptsRaised = Atomic<UInt64>(0)

    /// Queue notifications (or device-requested services) and interrupts raised so far.
    public var counters: (queueEvents: UInt64, interrupts: UInt64) {
        (queueEvents.load(ordering: .relaxed), interruptsRaised.load(ordering: .relaxed))
    }

    public init(device: any VirtioDevice, memory: GuestMemory, interrupt: any InterruptLine) {
        self.device = device
        self.memory = memory
        self.interrupt = interrupt
        offeredFeatures = device.features | VirtioFeature.transportFeatures
        queues = device.queueMaxSizes.map { QueueSlot(SplitQueue(maxSize: $0)) }
    }

    public var queueCount: Int { queues.count }

    /// The status the driver would read, NEEDS_RESET included.
    public var status: DeviceStatus {
        var status = registers.withLock { $0.status }
        if deviceNeedsReset.load(ordering: .acquiring) { status.insert(.needsReset) }
        return status
    }

    /// True between an accepted DRIVER_OK and the next reset.
    public var isActivated: Bool { activated.load(ordering: .acquiring) }

    public var pendingInterrupts: InterruptStatus {
        InterruptStatus(rawValue: interruptBits.load(ordering: .acquiring))
    }

    // MARK: - BusDevice

    /// Registers answer only 32-bit aligned reads (4.2.2.2); anything else reads as zero.
    /// Config space answers any width inside its bounds, zero outside.
    public func read(offset: UInt64, data: UnsafeMutableRawBufferPointer) {
        if offset >= MMIORegister.config {
            readConfig(offset: offset - MMIORegister.config, data: data)
            return
        }
        guard data.count == 4, offset % 4 == 0 else {
            data.initializeMemory(as: UInt8.self, repeating: 0)
            return
        }
        data.storeBytes(of: readRegister(offset).littleEndian, as: UInt32.self)
    }

    /// Register writes other than 32-bit aligned ones are dropped.
    public func write(offset: UInt64, data: UnsafeRawBufferPointer) {
        if offset >= MMIORegister.config {
            writeConfig(offset: offset - MMIORegister.config, data: data)
            return
        }
        guard data.count == 4, offset % 4 == 0 else { return }
        writeRegister(offset, UInt32(littleEndian: data.loadUnaligned(as: UInt32.self)))
    }

    // MARK: - Queue processing

    /// Lets the device consume queue `index`, then interrupts the guest if it asked for it.
    /// Does nothing before DRIVER_OK, for a queue that is not ready, or while the device
    /// needs reset; an index out of range is ignored (it comes from the guest).
    ///
    /// Returns whether the queue is still serviceable: false when it was refused for one of
    /// those reasons, or when this processing failed and the device now needs reset. Until the
    /// guest kicks the queue again nothing will drain it, so a device that came here because a
    /// level-triggered host descriptor was ready must stop watching it (or it spins).
    @discardableResult
    public func processQueue(_ index: Int) -> Bool {
        guard queues.indices.contains(index) else { return false }
        queueEvents.wrappingAdd(1, ordering: .relaxed)
        let (raise, serviceable) = queues[index].state.withLock { queue -> (Bool, Bool) in
            // Checked under the queue lock: reset clears `activated` before it takes this
            // lock, so no processing starts on a queue that reset has already cleared.
            guard activated.load(ordering: .acquiring), queue.isReady,
                  !deviceNeedsReset.load(ordering: .acquiring) else { return (false, false) }
            do throws(QueueError) {
                try drain(index, &queue)
                guard try queue.needsNotification(memory: memory) else { return (false, true) }
                interruptBits.bitwiseOr(InterruptStatus.usedBuffer.rawValue, ordering: .sequentiallyConsistent)
                return (true, true)
            } catch {
                // Buffers used before the failure are reported with it. Set inside the lock so
                // a reset that follows cannot be overtaken by this stale NEEDS_RESET.
                deviceNeedsReset.store(true, ordering: .sequentiallyConsistent)
                let bits: InterruptStatus = [.usedBuffer, .configChange]
                interruptBits.bitwiseOr(bits.rawValue, ordering: .sequentiallyConsistent)
                return (true, false)
            }
        }
        if raise {
            interruptsRaised.wrappingAdd(1, ordering: .relaxed)
            interrupt.trigger()
        }
        return serviceable
    }

    /// Processes with notifications off, then turns them back on and looks once more, so a
    /// buffer the driver added without kicking (because they were off) is not stranded. Looks
    /// again while the device takes buffers or the driver adds some; stops when buffers wait
    /// that this pass already saw and did not take, as on a receive queue waiting for host data.
    private func drain(_ index: Int, _ queue: inout SplitQueue) throws(QueueError) {
        while true {
            try queue.disableNotification(memory: memory)
            let seen = try queue.availableIndex(memory: memory)
            let before = queue.nextAvailable
            try device.processQueue(index, queue: &queue, memory: memory)
            let progressed = queue.nextAvailable != before
            guard try queue.enableNotification(memory: memory) else { return }
            // A pass that took nothing (an Async block device reporting completions, say) must
            // still look at what the driver added meanwhile: it skipped its kick.
            if !progressed, try queue.availableIndex(memory: memory) == seen { return }
        }
    }

    /// For the device or the VMM: the config space changed (e.g. a resized disk). Bumps the
    /// generation so a driver reading across the change retries, and tells the driver.
    public func notifyConfigChange() {
        registers.withLock { $0.configGeneration &+= 1 }
        guard activated.load(ordering: .acquiring) else { return }
        raise(.configChange)
    }

    private func raise(_ bits: InterruptStatus) {
        interruptBits.bitwiseOr(bits.rawValue, ordering: .sequentiallyConsistent)
        interruptsRaised.wrappingAdd(1, ordering: .relaxed)
        interrupt.trigger()
    }

    // MARK: - Registers

    private func readRegister(_ offset: UInt64) -> UInt32 {
        switch offset {
        case MMIORegister.magicValue: return MMIORegister.magic
        case MMIORegister.version: return MMIORegister.currentVersion
        case MMIORegister.deviceID: return device.deviceType.rawValue
        case MMIORegister.vendorID: return 0
        case MMIORegister.deviceFeatures:
            let select = registers.withLock { $0.deviceFeaturesSelect }
            return TransportRegisters.half(of: offeredFeatures, select: select)
        case MMIORegister.queueNumMax:
            return withSelectedQueue { UInt32($0.maxSize) } ?? 0
        case MMIORegister.queueReady:
            return withSelectedQueue { $0.isReady ? 1 : 0 } ?? 0
        case MMIORegister.interruptStatus:
            return interruptBits.load(ordering: .acquiring)
        case MMIORegister.status:
            return status.rawValue
        case MMIORegister.configGeneration:
            return registers.withLock { $0.configGeneration }
        case MMIORegister.sharedMemoryLengthLow, MMIORegister.sharedMemoryLengthHigh,
             MMIORegister.sharedMemoryBaseLow, MMIORegister.sharedMemoryBaseHigh:
            // All ones: no shared memory region with the selected ID (4.2.2).
            return .max
        default:
            // Write-only and reserved registers.
            return 0
        }
    }

    private func writeRegister(_ offset: UInt64, _ value: UInt32) {
        switch offset {
        case MMIORegister.deviceFeaturesSelect:
            registers.withLock { $0.deviceFeaturesSelect = value }
        case MMIORegister.driverFeaturesSelect:
            registers.withLock { $0.driverFeaturesSelect = value }
        case MMIORegister.driverFeatures:
            registers.withLock { if $0.featureWriteAllowed { $0.writeDriverFeatures(value) } }
        case MMIORegister.queueSelect:
            registers.withLock { $0.queueSelect = value }
        case MMIORegister.queueNum, MMIORegister.queueReady,
             MMIORegister.queueDescLow, MMIORegister.queueDescHigh,
             MMIORegister.queueDriverLow, MMIORegister.queueDriverHigh,
             MMIORegister.queueDeviceLow, MMIORegister.queueDeviceHigh:
            configureQueue(offset, value)
        case MMIORegister.queueNotify:
            // Taken outside the register lock: processing may block on I/O.
            processQueue(Int(value))
        case MMIORegister.interruptACK:
            interruptBits.bitwiseAnd(~value, ordering: .sequentiallyConsistent)
        case MMIORegister.status:
            writeStatus(value)
        case MMIORegister.sharedMemorySelect:
            registers.withLock { $0.sharedMemorySelect = value }
        default:
            break
        }
    }

    private func withSelectedQueue<T>(_ body: (inout SplitQueue) -> T) -> T? {
        registers.withLock { registers -> T? in
            let select = Int(registers.queueSelect)
            guard queues.indices.contains(select) else { return nil }
            return queues[select].state.withLock { body(&$0) }
        }
    }

    /// Queue registers, honoured only during queue setup and, except QueueReady, only while
    /// the queue is not ready (4.2.3.2). A QueueNum that is zero, above QueueNumMax or not a
    /// power of two is refused, leaving the previous size.
    private func configureQueue(_ offset: UInt64, _ value: UInt32) {
        registers.withLock { registers in
            guard registers.queueSetupAllowed, !deviceNeedsReset.load(ordering: .acquiring) else { return }
            let select = Int(registers.queueSelect)
            guard queues.indices.contains(select) else { return }
            queues[select].state.withLock { queue in
                if offset == MMIORegister.queueReady {
                    if value <= 1 { queue.isReady = value == 1 }
                    return
                }
                guard !queue.isReady else { return }
                switch offset {
                case MMIORegister.queueNum:
                    if queue.isValidSize(value) { queue.size = UInt16(value) }
                case MMIORegister.queueDescLow: queue.descriptorTable = Self.settingLow(queue.descriptorTable, value)
                case MMIORegister.queueDescHigh: queue.descriptorTable = Self.settingHigh(queue.descriptorTable, value)
                case MMIORegister.queueDriverLow: queue.availableRing = Self.settingLow(queue.availableRing, value)
                case MMIORegister.queueDriverHigh: queue.availableRing = Self.settingHigh(queue.availableRing, value)
                case MMIORegister.queueDeviceLow: queue.usedRing = Self.settingLow(queue.usedRing, value)
                case MMIORegister.queueDeviceHigh: queue.usedRing = Self.settingHigh(queue.usedRing, value)
                default: break
                }
            }
        }
    }

    private static func settingLow(_ address: GuestAddress, _ value: UInt32) -> GuestAddress {
        GuestAddress(address.rawValue & 0xFFFF_FFFF_0000_0000 | UInt64(value))
    }

    private static func settingHigh(_ address: GuestAddress, _ value: UInt32) -> GuestAddress {
        GuestAddress(address.rawValue & 0x0000_0000_FFFF_FFFF | UInt64(value) << 32)
    }

    // MARK: - Status

    private func writeStatus(_ value: UInt32) {
        registers.withLock { registers in
            switch DeviceStatus.transition(from: registers.status, to: value) {
            case .reset:
                reset(&registers)
            case .ignore:
                break
            case let .store(status):
                registers.status = status
            case .acceptFeatures:
                // Without this bit the driver sees FEATURES_OK refused and gives up (3.1.1).
                if VirtioFeature.isAcceptable(registers.driverFeatures, offered: offeredFeatures) {
                    registers.status.insert(.featuresOK)
                }
            case .activate:
                registers.status.insert(.driverOK)
                activate(features: registers.driverFeatures)
            }
        }
    }

    /// DRIVER_OK: every ready queue must be well-formed before the device may touch it; a
    /// device that cannot start is marked NEEDS_RESET, with the config-change interrupt the
    /// spec asks for once DRIVER_OK is set (2.1.2).
    private func activate(features: UInt64) {
        let eventIndex = features & VirtioFeature.eventIndex != 0
        let indirect = features & VirtioFeature.indirectDescriptors != 0
        var valid = true
        for slot in queues {
            valid = slot.state.withLock { queue in
                guard queue.isReady else { return true }
                guard queue.isValid(in: memory) else { return false }
                queue.activate(eventIndex: eventIndex, indirectDescriptors: indirect)
                return true
            } && valid
        }
        do throws(VirtioActivationError) {
            guard valid else { throw VirtioActivationError("a ready queue lies outside guest RAM or is misaligned") }
            try device.activate(features: features)
            activated.store(true, ordering: .releasing)
        } catch {
            deviceNeedsReset.store(true, ordering: .sequentiallyConsistent)
            raise(.configChange)
        }
    }

    /// Status 0: every queue, feature and interrupt bit back to its initial value (4.2.2.1).
    private func reset(_ registers: inout TransportRegisters) {
        // First stop new processing, then wait for any in progress by taking each queue lock.
        activated.store(false, ordering: .sequentiallyConsistent)
        for slot in queues {
            slot.state.withLock { $0.reset() }
        }
        registers.reset()
        interruptBits.store(0, ordering: .sequentiallyConsistent)
        deviceNeedsReset.store(false, ordering: .sequentiallyConsistent)
        device.reset()
    }

    // MARK: - Config space

    private func readConfig(offset: UInt64, data: UnsafeMutableRawBufferPointer) {
        guard let offset = configRange(offset, count: data.count) else {
            data.initializeMemory(as: UInt8.self, repeating: 0)
            return
        }
        registers.withLock { _ in device.readConfig(offset: offset, into: data) }
    }

    private func writeConfig(offset: UInt64, data: UnsafeRawBufferPointer) {
        guard let offset = configRange(offset, count: data.count) else { return }
        registers.withLock { _ in device.writeConfig(offset: offset, data: data) }
    }

    /// `offset` as an Int when `[offset, offset+count)` is inside the device's config space.
    private func configRange(_ offset: UInt64, count: Int) -> Int? {
        let size = UInt64(device.configSize)
        guard offset <= size, UInt64(count) <= size - offset else { return nil }
        return Int(offset)
    }
}

/// One queue and its lock; a class so the transport can keep an array of them.
final class QueueSlot: Sendable {
    let state: Mutex<SplitQueue>
    init(_ queue: SplitQueue) { state = Mutex(queue) }
}
