import CKiln
import KVM

/// Encoders for the KVM state types. Kernel structures are stored as their ABI bytes behind
/// their size (KVM's x86_64 ABI is stable and has explicit padding), so a round trip is exact;
/// variable parts (CPUID, MSRs, XSAVE) are counted and each count is limited before use.
/// The kernel validates the values themselves when they are set.
public enum KVMStateCodec {
    /// KVM_MAX_CPUID_ENTRIES.
    public static let maxCPUIDEntries = 256
    public static let maxMSRs = 4096
    /// KVM_CAP_XSAVE2 areas are 4 KiB plus dynamic features (AMX tiles add 8 KiB).
    public static let maxXSAVESize = 1 << 20
    public static let maxVcpus = 1024

    // MARK: vCPU

    public static func encode(_ state: VcpuState) -> [UInt8] {
        var writer = ByteWriter()
        writer.u32(state.id)
        writer.u32(UInt32(state.cpuid.count))
        for entry in state.cpuid { writer.structure(entry) }
        writer.u32(state.mpState)
        writer.structure(state.regs)
        writer.structure(state.sregs)
        writer.structure(state.fpu)
        writer.bool(state.xsave != nil)
        if let xsave = state.xsave { writer.blob(xsave) }
        writer.bool(state.xcrs != nil)
        if let xcrs = state.xcrs { writer.structure(xcrs) }
        writer.bool(state.debugRegisters != nil)
        if let debug = state.debugRegisters { writer.structure(debug) }
        writer.structure(state.lapic)
        writer.u32(UInt32(state.msrs.count))
        for msr in state.msrs {
            writer.u32(msr.index)
            writer.u64(msr.value)
        }
        writer.bool(state.events != nil)
        if let events = state.events { writer.structure(events) }
        writer.bool(state.tscKHz != nil)
        if let khz = state.tscKHz { writer.u32(khz) }
        return writer.bytes
    }

    public static func decodeVcpu(_ bytes: [UInt8], context: String = "vCPU state") throws(SnapshotError) -> VcpuState {
        var reader = ByteReader(bytes, context: context)
        let id = try reader.u32("id")
        let cpuidCount = try reader.count("CPUID entries", limit: maxCPUIDEntries,
                                        elementSize: 4 + MemoryLayout<kvm_cpuid_entry2>.size)
        var cpuid: [kvm_cpuid_entry2] = []
        cpuid.reserveCapacity(cpuidCount)
        for index in 0..<cpuidCount {
            cpuid.append(try reader.structure(kvm_cpuid_entry2.self, zero: kvm_cpuid_entry2(), "CPUID entry \(index)"))
        }
        let mpState = try reader.u32("MP state")
        let regs = try reader.structure(kvm_regs.self, zero: kvm_regs(), "regs")
        let sregs = try reader.structure(kvm_sregs.self, zero: kvm_sregs(), "sregs")
        let fpu = try reader.structure(kvm_fpu.self, zero: kvm_fpu(), "FPU")
        var xsave: [UInt8]?
        if try reader.bool("XSAVE present") {
            let area = try reader.blob("XSAVE area", limit: maxXSAVESize)
            guard area.count >= Int(KILN_KVM_XSAVE_LEGACY_SIZE), area.count % 4 == 0 else {
                throw .malformed("\(context): XSAVE area of \(area.count) bytes")
            }
            xsave = area
        }
        let xcrs = try reader.bool("XCRs present") ? try reader.structure(kvm_xcrs.self, zero: kvm_xcrs(), "XCRs") : nil
        if let xcrs, xcrs.nr_xcrs > UInt32(KVM_MAX_XCRS) { throw .malformed("\(context): \(xcrs.nr_xcrs) XCRs") }
        let debug = try reader.bool("debug registers present")
            ? try reader.structure(kvm_debugregs.self, zero: kvm_debugregs(), "debug registers") : nil
        let lapic = try reader.structure(kvm_lapic_state.self, zero: kvm_lapic_state(), "LAPIC")
        let msrCount = try reader.count("MSRs", limit: maxMSRs, elementSize: 12)
        var msrs: [MSREntry] = []
        msrs.reserveCapacity(msrCount)
        for index in 0..<msrCount {
            msrs.append(MSREntry(index: try reader.u32("MSR \(index) index"), value: try reader.u64("MSR \(index) value")))
        }
        let events = try reader.bool("vCPU events present")
            ? try reader.structure(kvm_vcpu_events.self, zero: kvm_vcpu_events(), "vCPU events") : nil
        let tscKHz = try reader.bool("TSC frequency present") ? try reader.u32("TSC kHz") : nil
        try reader.finish()
        return VcpuState(id: id, cpuid: cpuid, mpState: mpState, regs: regs, sregs: sregs, fpu: fpu, xsave: xsave,
                         xcrs: xcrs, debugRegisters: debug, lapic: lapic, msrs: msrs, events: events, tscKHz: tscKHz)
    }

    // MARK: VM

    public static func encode(_ state: VMState) -> [UInt8] {
        var writer = ByteWriter()
        writer.structure(state.picMaster)
        writer.structure(state.picSlave)
        writer.structure(state.ioapic)
        writer.structure(state.pit)
        writer.structure(state.clock)
        return writer.bytes
    }

    public static func decodeVM(_ bytes: [UInt8]) throws(SnapshotError) -> VMState {
        var reader = ByteReader(bytes, context: "VM state")
        var chips: [kvm_irqchip] = []
        for chip in IRQChipID.allCases {
            let state = try reader.structure(kvm_irqchip.self, zero: kvm_irqchip(), "irqchip \(chip)")
            guard state.chip_id == chip.rawValue else {
                throw .malformed("VM state: irqchip \(chip) recorded with chip id \(state.chip_id)")
            }
            chips.append(state)
        }
        let pit = try reader.structure(kvm_pit_state2.self, zero: kvm_pit_state2(), "PIT")
        let clock = try reader.structure(kvm_clock_data.self, zero: kvm_clock_data(), "kvmclock")
        try reader.finish()
        return VMState(picMaster: chips[0], picSlave: chips[1], ioapic: chips[2], pit: pit, clock: clock)
    }
}
