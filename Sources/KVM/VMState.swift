import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// KVM state that belongs to the VM rather than a vCPU: the in-kernel PICs and IOAPIC, the
/// PIT, and kvmclock. Plain data in the kernel's ABI layout; encoded by the Snapshot target.
public struct VMState: @unchecked Sendable {
    public var picMaster: kvm_irqchip
    public var picSlave: kvm_irqchip
    public var ioapic: kvm_irqchip
    public var pit: kvm_pit_state2
    public var clock: kvm_clock_data

    public init(picMaster: kvm_irqchip, picSlave: kvm_irqchip, ioapic: kvm_irqchip,
                pit: kvm_pit_state2, clock: kvm_clock_data) {
        self.picMaster = picMaster
        self.picSlave = picSlave
        self.ioapic = ioapic
        self.pit = pit
        self.clock = clock
    }
}

/// KVM_{GET,SET}_IRQCHIP chip ids.
public enum IRQChipID: UInt32, Sendable, CaseIterable {
    case picMaster = 0, picSlave = 1, ioapic = 2
}

extension VirtualMachine {
    public func irqchip(_ chip: IRQChipID) throws(KVMError) -> kvm_irqchip {
        var state = kvm_irqchip()
        state.chip_id = chip.rawValue
        _ = try check("KVM_GET_IRQCHIP \(chip)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_IRQCHIP, &state) }
        return state
    }

    public func setIRQChip(_ state: kvm_irqchip) throws(KVMError) {
        var state = state
        _ = try check("KVM_SET_IRQCHIP chip \(state.chip_id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_IRQCHIP, &state) }
    }

    public func pit2() throws(KVMError) -> kvm_pit_state2 {
        var state = kvm_pit_state2()
        _ = try check("KVM_GET_PIT2") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_PIT2, &state) }
        return state
    }

    public func setPIT2(_ state: kvm_pit_state2) throws(KVMError) {
        var state = state
        _ = try check("KVM_SET_PIT2") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_PIT2, &state) }
    }

    public func clock() throws(KVMError) -> kvm_clock_data {
        var data = kvm_clock_data()
        _ = try check("KVM_GET_CLOCK") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_CLOCK, &data) }
        return data
    }

    public func setClock(_ data: kvm_clock_data) throws(KVMError) {
        var data = data
        _ = try check("KVM_SET_CLOCK") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_CLOCK, &data) }
    }

    /// All VM-level state; the vCPUs must be stopped.
    public func captureState() throws(KVMError) -> VMState {
        VMState(picMaster: try irqchip(.picMaster), picSlave: try irqchip(.picSlave), ioapic: try irqchip(.ioapic),
                pit: try pit2(), clock: try clock())
    }

    /// Restores into a VM that already has its irqchip and PIT (KVM_CREATE_IRQCHIP,
    /// KVM_CREATE_PIT2) and its memory, before any vCPU state is restored (as Firecracker does).
    ///
    /// kvmclock: by default the guest's clock continues from the saved value, as if it had been
    /// paused (KVM_SET_CLOCK without KVM_CLOCK_REALTIME). With `advanceClockByElapsedRealtime`
    /// (and a host that reported KVM_CLOCK_REALTIME at save time) KVM moves it forward by the
    /// wall time since the snapshot instead. KVM_CLOCK_TSC_STABLE and HOST_TSC are outputs only.
    public func restoreState(_ state: VMState, advanceClockByElapsedRealtime: Bool = false) throws(KVMError) {
        try setPIT2(state.pit)
        var clock = state.clock
        let keepRealtime = advanceClockByElapsedRealtime && clock.flags & KILN_KVM_CLOCK_REALTIME != 0
        clock.flags = keepRealtime ? KILN_KVM_CLOCK_REALTIME : 0
        try setClock(clock)
        // The chip id comes from the field, not from the (possibly hostile) saved bytes.
        for (id, var chip) in [(IRQChipID.picMaster, state.picMaster), (.picSlave, state.picSlave), (.ioapic, state.ioapic)] {
            chip.chip_id = id.rawValue
            try setIRQChip(chip)
        }
    }
}
