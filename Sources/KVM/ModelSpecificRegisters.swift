import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// One MSR and its value, as KVM_GET_MSRS / KVM_SET_MSRS exchange them.
public struct MSREntry: Sendable, Equatable {
    public var index: UInt32
    public var value: UInt64

    public init(index: UInt32, value: UInt64) {
        self.index = index
        self.value = value
    }
}

/// Which MSRs a snapshot saves. KVM_GET_MSR_INDEX_LIST names what KVM can save, but not every
/// entry is readable for every guest (PMU, MCE or Hyper-V MSRs depend on CPUID), and a few
/// architectural ones matter too much to depend on the list: those are added here, and the
/// union is filtered by what KVM_GET_MSRS accepts on the vCPU (`Vcpu.readMSRs`).
public enum SnapshotMSRs {
    public static let tsc: UInt32 = 0x10
    public static let tscDeadline: UInt32 = 0x6e0
    /// MSR_KVM_WALL_CLOCK_NEW ... MSR_KVM_MIGRATION_CONTROL: kvmclock, async PF, steal time,
    /// PV EOI, poll control. A guest that enabled kvmclock loses its clock page without them.
    public static let kvmParavirtual: ClosedRange<UInt32> = 0x4b56_4d00...0x4b56_4d08

    /// Architectural state a guest kernel programs and never re-reads (the set Firecracker
    /// serializes, less the x2APIC range, which KVM_GET_LAPIC already covers).
    public static let architectural: [UInt32] = [
        0x10,                                   // IA32_TSC
        0x1b,                                   // IA32_APIC_BASE
        0x3a,                                   // IA32_FEATURE_CONTROL
        0x3b,                                   // IA32_TSC_ADJUST
        0x48,                                   // IA32_SPEC_CTRL
        0x174, 0x175, 0x176,                    // SYSENTER_CS/ESP/EIP
        0x1a0,                                  // IA32_MISC_ENABLE
        0x1d9,                                  // IA32_DEBUGCTL
        0x277,                                  // IA32_PAT
        0x2ff,                                  // MTRR default type
        0x6e0,                                  // IA32_TSC_DEADLINE
        0xc000_0080,                            // EFER
        0xc000_0081, 0xc000_0082, 0xc000_0083, 0xc000_0084, // STAR, LSTAR, CSTAR, SFMASK
        0xc000_0100, 0xc000_0101, 0xc000_0102,  // FS_BASE, GS_BASE, KERNEL_GS_BASE
        0xc000_0103,                            // TSC_AUX
    ] + Array(0x200...0x20f)                    // variable MTRRs
      + [0x250, 0x258, 0x259] + Array(0x268...0x26f) // fixed MTRRs

    /// MSRs never saved: IA32_MCG_CTL exists only with MCE set up (Firecracker drops it too).
    public static let denied: Set<UInt32> = [0x17b]

    /// The candidates for a snapshot: the host's list, the paravirtual range and the
    /// architectural set, without duplicates or denied entries, in restore order: IA32_TSC
    /// before everything (setting it resets the TSC offset), IA32_TSC_DEADLINE last (KVM
    /// arms the deadline timer relative to the TSC and the LAPIC set just before).
    public static func candidates(hostIndexList: [UInt32]) -> [UInt32] {
        var unique = Set(hostIndexList)
        unique.formUnion(kvmParavirtual)
        unique.formUnion(architectural)
        unique.subtract(denied)
        return restoreOrder(Array(unique))
    }

    /// Sorted by index, with IA32_TSC first and IA32_TSC_DEADLINE last.
    public static func restoreOrder(_ indices: [UInt32]) -> [UInt32] {
        func rank(_ index: UInt32) -> Int { index == tsc ? 0 : index == tscDeadline ? 2 : 1 }
        return indices.sorted { (rank($0), $0) < (rank($1), $1) }
    }
}

extension Vcpu {
    /// KVM_GET_MSRS of every readable MSR in `indices`, in that order. KVM stops at the first
    /// MSR it refuses and returns how many it read: the refused one is dropped and the read
    /// resumes after it, so the answer is exactly the MSRs KVM accepts for this guest.
    public func readMSRs(_ indices: [UInt32]) throws(KVMError) -> [MSREntry] {
        var result: [MSREntry] = []
        result.reserveCapacity(indices.count)
        var start = 0
        while start < indices.count {
            let batch = indices[start...]
            guard let buffer = kiln_msrs_alloc(UInt32(batch.count)) else { throw .allocationFailed("MSR buffer") }
            defer { free(buffer) }
            let entries = kiln_msrs_entries(buffer)!
            for (slot, index) in batch.enumerated() { entries[slot] = kvm_msr_entry(index: index, reserved: 0, data: 0) }
            let read = Int(try check("KVM_GET_MSRS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_MSRS, buffer) })
            for slot in 0..<min(read, batch.count) { result.append(MSREntry(index: entries[slot].index, value: entries[slot].data)) }
            start += read + 1 // skip the refused MSR (or step past the end when all were read)
        }
        return result
    }

    /// KVM_SET_MSRS of saved entries; fails naming the first MSR KVM refuses.
    public func writeMSRs(_ msrs: [MSREntry]) throws(KVMError) {
        try setMSRs(msrs.map { ($0.index, $0.value) })
    }
}
