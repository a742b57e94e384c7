import Devices
import GuestMemory
import Testing
@testable import VMM

private final class NoInterrupt: InterruptLine {
    func trigger() {}
}

private struct DiscardOutput: SerialOutput {
    func write(_ bytes: UnsafeRawBufferPointer) {}
}

/// A machine's devices without KVM: an entropy device on a transport, and the legacy ones.
private final class InventoryRig {
    let memory: GuestMemory
    let loop: EventLoop
    let rng = Rng()
    let transport: MMIOTransport
    let serial = Serial16550(interrupt: NoInterrupt(), output: DiscardOutput())
    let i8042 = I8042(onReset: {})
    let timer = BootTimer(onBootComplete: {})
    var inventory = DeviceInventory()

    init(memory: GuestMemory, serialID: String = "serial", rngKind: Bool = true) throws {
        self.memory = memory
        loop = try EventLoop()
        transport = MMIOTransport(device: rng, memory: memory, interrupt: NoInterrupt())
        let wiring = VirtioWiring(transport: transport, notifiers: [], events: TransportEvents(loop: loop, transport: transport))
        let window = DeviceWindow(space: .mmio, base: 0xd000_1000, length: MMIOTransport.windowSize)
        if rngKind {
            try inventory.add(DeviceEntry(id: .entropy, kind: .rng(rng), window: window, interrupt: nil, virtio: wiring))
        } else {
            try inventory.add(DeviceEntry(id: .entropy, kind: .i8042(I8042(onReset: {})), window: window,
                                          interrupt: nil, virtio: nil))
        }
        let port = DeviceWindow(space: .portIO, base: 0x3f8, length: 8)
        try inventory.add(DeviceEntry(id: .legacy(serialID), kind: .serial(serial), window: port, interrupt: nil, virtio: nil))
        try inventory.add(DeviceEntry(id: .legacy("i8042"), kind: .i8042(i8042), window: port, interrupt: nil, virtio: nil))
        try inventory.add(DeviceEntry(id: .legacy("boot-timer"), kind: .bootTimer(timer), window: port, interrupt: nil,
                                      virtio: nil))
    }

    /// The guest's side of a little activity: the entropy driver half-way through set-up, a
    /// changed serial register, the boot marker written.
    func drive() {
        for status: DeviceStatus in [[.acknowledge], [.acknowledge, .driver]] { register(MMIORegister.status, status.rawValue) }
        register(MMIORegister.driverFeaturesSelect, 1)
        register(MMIORegister.driverFeatures, 1)  // VERSION_1
        register(MMIORegister.status, DeviceStatus([.acknowledge, .driver, .featuresOK]).rawValue)
        withUnsafeBytes(of: UInt8(0x5A)) { serial.write(offset: 7, data: $0) }
        withUnsafeBytes(of: BootTimer.bootCompleteValue) { timer.write(offset: 0, data: $0) }
    }

    private func register(_ offset: UInt64, _ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { transport.write(offset: offset, data: $0) }
    }
}

@Suite struct DeviceInventorySnapshotTests {
    let memory = try! GuestMemory(layout: [(start: GuestAddress(0), size: 1 << 20)])

    @Test func savedDevicesRestoreIntoAFreshMachineWithTheSameInventory() throws {
        let source = try InventoryRig(memory: memory)
        source.drive()
        let saved = try source.inventory.save()
        #expect(saved.devices.map(\.id) == [.entropy, .legacy("serial"), .legacy("i8042"), .legacy("boot-timer")])
        let decoded = try SavedDevices(decoding: saved.encoded)
        #expect(decoded == saved)

        let target = try InventoryRig(memory: memory)
        try target.inventory.restore(decoded)
        #expect(try target.inventory.save() == saved)
        #expect(target.transport.status == [.acknowledge, .driver, .featuresOK])
        #expect(target.timer.hasFired)
    }

    @Test func anotherInventoryIsRefusedAndNothingIsRestored() throws {
        let source = try InventoryRig(memory: memory)
        source.drive()
        let saved = try source.inventory.save()

        let renamed = try InventoryRig(memory: memory, serialID: "com1")
        #expect(throws: DeviceSnapshotError.deviceID(index: 1, saved: "serial", machine: "com1")) {
            try renamed.inventory.restore(saved)
        }
        let otherKind = try InventoryRig(memory: memory, rngKind: false)
        #expect(throws: DeviceSnapshotError.deviceKind(id: "entropy", saved: "entropy", machine: "i8042")) {
            try otherKind.inventory.restore(saved)
        }
        var fewer = saved
        fewer.devices.removeLast()
        let target = try InventoryRig(memory: memory)
        #expect(throws: DeviceSnapshotError.deviceCount(saved: 3, machine: 4)) { try target.inventory.restore(fewer) }

        // The last device's state is bad: the ones before it are not restored either.
        var bad = saved
        bad.devices[2].state = .i8042(I8042SavedState(statusFlags: 0xFF, control: 0, outputPort: 0, pendingCommand: 0,
                                                      output: []))
        #expect(throws: DeviceSnapshotError.device(id: "i8042", .invalidValue(field: "i8042 status", value: 0xFF))) {
            try target.inventory.restore(bad)
        }
        #expect(target.transport.status == [])
        #expect(target.serial.saveState().scratch == 0)
        try target.inventory.restore(saved)
        #expect(target.serial.saveState().scratch == 0x5A)
    }

    @Test func hostileEncodingsAreRefused() throws {
        let source = try InventoryRig(memory: memory)
        source.drive()
        let saved = try source.inventory.save()
        let bytes = saved.encoded
        for length in 0..<bytes.count {
            #expect(throws: SnapshotStateError.self) { try SavedDevices(decoding: Array(bytes[..<length])) }
        }
        var twice = saved
        twice.devices[1].id = .entropy
        #expect(throws: SnapshotStateError.inconsistent("device id 'entropy' appears twice")) {
            try SavedDevices(decoding: twice.encoded)
        }
        #expect(throws: SnapshotStateError.unsupportedVersion(field: "devices", version: 2)) {
            try SavedDevices(decoding: [2] + bytes.dropFirst())
        }
    }
}

/// A machine with a virtio-fs share cannot be snapshotted: its guest inodes are host
/// descriptors. The refusal is typed and names the device, before any state is read.
@Suite struct ShareSnapshotRefusalTests {
    @Test func saveRefusesAMachineWithAShare() throws {
        let memory = try GuestMemory(layout: [(start: GuestAddress(0), size: 1 << 20)])
        let loop = try EventLoop()
        let fs = try Fs(tag: "data", sharedDirectory: "/tmp")
        let transport = MMIOTransport(device: fs, memory: memory, interrupt: NoInterrupt())
        let wiring = VirtioWiring(transport: transport, notifiers: [], events: TransportEvents(loop: loop, transport: transport))
        var inventory = DeviceInventory()
        try inventory.add(DeviceEntry(id: .share("data"), kind: .fs(fs),
                                      window: DeviceWindow(space: .mmio, base: 0xd000_1000, length: MMIOTransport.windowSize),
                                      interrupt: nil, virtio: wiring))
        #expect(throws: DeviceSnapshotError.unsupportedDevice(id: "share:data", kind: "virtio-fs")) {
            try inventory.save()
        }
        let error = VMMError.deviceSnapshot(.unsupportedDevice(id: "share:data", kind: "virtio-fs"))
        #expect(error.description.contains("cannot be saved in a snapshot"))
        #expect(!error.description.contains("\n"))
    }
}
