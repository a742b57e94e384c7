import Devices
import KVM
import Snapshot
#if canImport(Glibc)
import Glibc
#endif

/// The devices' half of a snapshot (the vCPU, irqchip and clock state are KVM's side).
extension Machine {
    /// Every device's state, read while no loop runs a handler (`DeviceLoops.quiesce`) and the
    /// vCPUs are paused, so no register access and no queue processing runs meanwhile.
    public func saveDevices() throws(VMMError) -> SavedDevices {
        guard isPaused || runners.isEmpty else { throw .invalidState("pause the VM before saving its devices") }
        do {
            return try loops.quiesce { () -> Result<SavedDevices, DeviceSnapshotError> in
                do throws(DeviceSnapshotError) { return .success(try inventory.save()) } catch { return .failure(error) }
            }.get()
        } catch { throw .deviceSnapshot(error) }
    }

    /// Puts saved device state into this machine, built from the snapshot's configuration and
    /// not started yet (see `DeviceInventory.restore`).
    public func restoreDevices(_ saved: SavedDevices) throws(VMMError) {
        guard runners.isEmpty else { throw .invalidState("devices are restored before the VM starts") }
        do {
            try loops.quiesce { () -> Result<Void, DeviceSnapshotError> in
                do throws(DeviceSnapshotError) {
                    try inventory.restore(saved)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }.get()
        } catch { throw .deviceSnapshot(error) }
    }
}

/// What a snapshot needs from KVM that the confined VMM thread cannot ask for later
/// (KVM_CHECK_EXTENSION and KVM_GET_MSR_INDEX_LIST go to /dev/kvm): found at build time.
struct SnapshotSupport {
    let vcpu: VcpuStateSupport
    /// KVM_GET_MSR_INDEX_LIST as the build found it.
    let hostMSRIndexList: [UInt32]

    /// Worked out when a snapshot is taken, not at start-up, where it cost ~0.5 M instructions
    /// (a Set and a sort) on the way to the guest's first instruction.
    var msrCandidates: [UInt32] { SnapshotMSRs.candidates(hostIndexList: hostMSRIndexList) }
}

/// Snapshots of a running machine (`PUT /snapshot/create`).
extension Machine {
    /// Section names of the VMM's own state in the state file (KVM's are `kvm.*`).
    static let configSection = "vmm.config"
    static let devicesSection = "vmm.devices"
    static let generationSection = "vmm.generation"

    /// Writes the paused VM's state file and memory file. Each is written beside its
    /// destination and renamed into place once complete, so a clone mapping an older memory
    /// file of the same name keeps its pages (an O_TRUNC rewrite would pull them from under
    /// it) and a failed snapshot leaves no half file. The VM is unchanged and can resume.
    public func createSnapshot(_ request: SnapshotCreateRequest) throws(VMMError) {
        guard isPaused else { throw .invalidState("pause the VM before taking a snapshot") }
        if request.kind == .diff && !config.trackDirtyPages {
            throw .invalidState("a Diff snapshot needs dirty page tracking: track_dirty_pages in machine-config (or in snapshot/load)")
        }
        // Device state and the pages devices wrote, read together between two handlers.
        let saved = loops.quiesce { () -> Result<(SavedDevices, [[UInt64]]?), DeviceSnapshotError> in
            do throws(DeviceSnapshotError) {
                return .success((try inventory.save(), memory.takeDeviceWriteLog()))
            } catch { return .failure(error) }
        }
        let devices: SavedDevices, deviceWrites: [[UInt64]]?
        do { (devices, deviceWrites) = try saved.get() } catch { throw .deviceSnapshot(error) }
        let vmState: VMState
        var vcpuStates: [VcpuState] = []
        var written: [DirtyBitmap]?
        do {
            vmState = try vm.captureState()
            let msrCandidates = snapshotSupport.msrCandidates
            for vcpu in vcpus {
                vcpuStates.append(try vcpu.captureState(msrCandidates: msrCandidates, support: snapshotSupport.vcpu))
            }
            // Reading KVM's log also clears it: after any snapshot, the next Diff holds only
            // what is written from here on.
            if config.trackDirtyPages { written = try writtenPages(deviceWrites: deviceWrites) }
        } catch { throw .kvm(error) }
        let ranges = memory.regions.map { HostMemoryRange(guestAddress: $0.start.rawValue, size: $0.size, host: $0.host) }
        let memoryTemporary = Self.temporaryPath(for: request.memoryFilePath)
        let stateTemporary = Self.temporaryPath(for: request.snapshotPath)
        do throws(SnapshotError) {
            defer { unlink(memoryTemporary); unlink(stateTemporary) }
            let layout: [MemoryFileRange]
            if request.kind == .diff, let written {
                layout = try MemoryFile.writeDiff(ranges, dirty: written, toPath: memoryTemporary)
            } else {
                layout = try MemoryFile.writeFull(ranges, toPath: memoryTemporary)
            }
            var sections: [(name: String, bytes: [UInt8])] = [
                (Self.configSection, SnapshotConfig(config).encoded),
                (Self.devicesSection, devices.encoded),
            ]
            if let generation { sections.append((Self.generationSection, generation.currentID)) }
            let snapshot = MachineSnapshot(memory: layout, memoryKind: request.kind == .diff ? .diff : .full,
                                           dirtyPages: request.kind == .diff ? written : nil,
                                           vm: vmState, vcpus: vcpuStates, opaqueSections: sections)
            try StateFile.write(snapshot, toPath: stateTemporary)
            guard rename(memoryTemporary, request.memoryFilePath) == 0 else {
                throw SnapshotError.file(operation: "rename", path: request.memoryFilePath, errno: errno)
            }
            guard rename(stateTemporary, request.snapshotPath) == 0 else {
                throw SnapshotError.file(operation: "rename", path: request.snapshotPath, errno: errno)
            }
        } catch { throw .snapshot(error) }
    }

    /// Per memory region, the pages written since the previous snapshot (or the start): KVM's
    /// dirty log of the guest's writes joined with the devices' own.
    private func writtenPages(deviceWrites: [[UInt64]]?) throws(KVMError) -> [DirtyBitmap] {
        var bitmaps: [DirtyBitmap] = []
        for (slot, region) in memory.regions.enumerated() {
            var bitmap = try vm.dirtyLog(slot: UInt32(slot), size: region.size)
            if let words = deviceWrites?[slot] { bitmap.formUnion(DirtyBitmap(pageCount: bitmap.pageCount, words: words)) }
            bitmaps.append(bitmap)
        }
        return bitmaps
    }

    private static func temporaryPath(for path: String) -> String { "\(path).kiln-tmp.\(getpid())" }
}
