import CKiln
import Devices
import GuestMemory
import KVM
import Snapshot
import X86Boot
#if canImport(Glibc)
import Glibc
#endif

/// Builds a machine from a snapshot (`PUT /snapshot/load`): everything in the state file is
/// read and checked (CRC, version, configuration, CPU, memory file size, every device state)
/// before the VM exists, and guest memory is the memory file mapped copy-on-write.
extension MachineBuilder {
    static func restore(_ request: SnapshotLoadRequest, seccomp: Bool) throws(VMMError) -> Machine {
        BootClock.markBuildStart()
        VcpuKickSignal.unblockAllSignals()
        let snapshot: MachineSnapshot
        do { snapshot = try StateFile.read(path: request.snapshotPath) } catch { throw .snapshot(error) }
        guard snapshot.memoryKind == .full else {
            throw .invalidConfiguration("\(request.snapshotPath) is a Diff snapshot: merge it onto its base first")
        }
        let saved = try section(snapshot, Machine.configSection, request) { (bytes) throws(SnapshotStateError) in
            try SnapshotConfig(decoding: bytes)
        }
        let devices = try section(snapshot, Machine.devicesSection, request) { (bytes) throws(SnapshotStateError) in
            try SavedDevices(decoding: bytes)
        }
        var config = try saved.vmConfig(request, seccomp: seccomp)
        config.trackDirtyPages = request.trackDirtyPages
        guard snapshot.vcpus.count == config.vcpuCount else {
            throw .invalidConfiguration("\(request.snapshotPath): \(snapshot.vcpus.count) vCPU states for \(config.vcpuCount) vCPUs")
        }
        let layout: [(start: GuestAddress, size: UInt64)]
        do { layout = try GuestRAM.layout(mebibytes: UInt64(config.memoryMiB)) } catch { throw .boot(error.description) }
        guard snapshot.memory == MemoryFileRange.contiguous(layout.map { ($0.start.rawValue, $0.size) }) else {
            throw .invalidConfiguration("\(request.snapshotPath): the memory layout does not match \(config.memoryMiB) MiB of guest RAM")
        }

        let kvm: Kvm
        do {
            kvm = try Kvm()
            try kvm.checkRequiredCapabilities()
        } catch { throw .kvm(error) }
        try config.validate(maxVcpus: maxVcpus(kvm), hostMemoryMiB: VMConfig.hostMemoryMiB(), requireKernel: false)
        let hostCPUID: [kvm_cpuid_entry2]
        do { hostCPUID = try kvm.guestVisibleCPUID() } catch { throw .kvm(error) }
        do {
            try CPUCompatibilityPolicy.strict.check(saved: snapshot.guestCPUID, host: hostCPUID)
        } catch { throw .snapshot(error) }

        let memory = try mapMemory(request.memoryFilePath, layout: layout)
        let vm = try createVM(kvm, memory: memory, logDirtyPages: request.trackDirtyPages)
        // Diff snapshots of a clone are relative to the snapshot it came from.
        if request.trackDirtyPages { memory.startDeviceWriteLog() }
        let hostMSRs: [UInt32]
        do {
            try vm.createPIT2()
            try vm.restoreState(snapshot.vm, advanceClockByElapsedRealtime: request.clockRealtime)
            hostMSRs = try kvm.msrIndexList()
        } catch { throw .kvm(error) }

        let loops = try DeviceLoops(driveCount: config.drives.count)
        let virtio = try VirtioDevices.attach(try virtioDevices(config), vm: vm, memory: memory, loops: loops)
        var generation: VMGeneration?
        if config.acpi {
            // The ACPI tables are in guest memory already; the clone gets its own generation.
            generation = VMGeneration(memory: memory, line: try IRQFDLine(vm: vm, gsi: ACPILayout.gedGSI))
            try generation?.writeNewID()
        }
        let stop = StopCoordinator()
        let legacy = try legacyDevices(config, vm: vm, stop: stop)
        var inventory = DeviceInventory()
        for entry in virtio.entries { try inventory.add(entry) }
        for entry in legacy.entries { try inventory.add(entry) }
        var portBus = Bus(space: .portIO), mmioBus = Bus(space: .mmio)
        try inventory.place(portBus: &portBus, mmioBus: &mmioBus)

        let support = vm.stateSupport()
        var vcpus: [Vcpu] = []
        do {
            for (index, state) in snapshot.vcpus.enumerated() {
                let vcpu = try vm.createVcpu(id: UInt32(index))
                try vcpu.restoreState(state, support: support)
                // The guest's kvmclock jumped while it was saved: without this its watchdogs
                // would see a soft lockup. A guest without kvmclock answers EINVAL (false).
                _ = try vcpu.notifyClockStopped()
                vcpus.append(vcpu)
            }
        } catch { throw .kvm(error) }

        let machine = Machine(config: config, vm: vm, memory: memory, vcpus: vcpus, portBus: portBus, mmioBus: mmioBus,
                              serial: legacy.serial, console: legacy.console, loops: loops, stop: stop, i8042: legacy.i8042,
                              inventory: inventory, keepAlive: [kvm], generation: generation,
                              snapshotSupport: SnapshotSupport(vcpu: support, hostMSRIndexList: hostMSRs))
        try machine.restoreDevices(devices)
        machine.announcesNewGeneration = generation != nil
        return machine
    }

    private static func section<T>(_ snapshot: MachineSnapshot, _ name: String, _ request: SnapshotLoadRequest,
                                   _ decode: ([UInt8]) throws(SnapshotStateError) -> T) throws(VMMError) -> T {
        guard let bytes = snapshot.opaqueSection(name) else { throw .snapshot(.missingSection(name)) }
        do { return try decode(bytes) } catch {
            throw .invalidConfiguration("\(request.snapshotPath): section \(name): \(error)")
        }
    }

    /// The memory file, mapped MAP_PRIVATE (checked against the layout's size first).
    private static func mapMemory(_ path: String, layout: [(start: GuestAddress, size: UInt64)]) throws(VMMError) -> GuestMemory {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .file(operation: "snapshot memory file", path: path, errno: errno) }
        defer { close(fd) }
        do { return try GuestMemory(layout: layout, file: fd) } catch {
            throw .invalidConfiguration("snapshot memory file \(path): \(error)")
        }
    }
}

extension Machine {
    /// A machine restored from a snapshot, not started: `start(paused:)` runs it.
    public static func restore(_ request: SnapshotLoadRequest, seccomp: Bool) throws(VMMError) -> Machine {
        try MachineBuilder.restore(request, seccomp: seccomp)
    }
}
