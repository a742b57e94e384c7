/// One CPUID leaf/subleaf, the shape of KVM's `kvm_cpuid_entry2`.
public struct CPUIDEntry: Sendable, Equatable {
    /// `flags` bit meaning `index` (the subleaf in ECX) selects this entry.
    public static let significantIndex: UInt32 = 1

    public var function: UInt32
    public var index: UInt32
    public var flags: UInt32
    public var eax: UInt32
    public var ebx: UInt32
    public var ecx: UInt32
    public var edx: UInt32

    public init(function: UInt32, index: UInt32 = 0, flags: UInt32 = 0,
                eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
        self.function = function
        self.index = index
        self.flags = flags
        self.eax = eax
        self.ebx = ebx
        self.ecx = ecx
        self.edx = edx
    }
}

/// Turns what KVM_GET_SUPPORTED_CPUID reports into what one vCPU should see, following
/// Firecracker's CPUID normalization. The topology presented is one package with
/// `vcpuCount` single-threaded cores; APIC id = vCPU index (matching the MP table).
public enum CPUID {
    public static func adjust(_ supported: [CPUIDEntry], vcpuIndex: Int, vcpuCount: Int,
                              tscDeadlineTimer: Bool = true) throws(BootError) -> [CPUIDEntry] {
        guard vcpuCount >= 1, vcpuCount <= 255 else { throw .invalidVcpuCount(vcpuCount, maximum: 255) }
        guard vcpuIndex >= 0, vcpuIndex < vcpuCount else { throw .invalidVcpuIndex(vcpuIndex, count: vcpuCount) }
        let apicID = UInt32(vcpuIndex)
        let count = UInt32(vcpuCount)
        // APIC id bits needed per package, and the matching count of addressable ids.
        let idBits = UInt32(count <= 1 ? 0 : 32 - (count - 1).leadingZeroBitCount)
        let addressableIDs = UInt32(1) << idBits
        let isAMD = supported.first { $0.function == 0 }.map { $0.ebx == 0x6874_7541 } ?? false  // "Auth"

        var entries = supported
        for i in entries.indices {
            var e = entries[i]
            switch e.function {
            case 0x1:
                // Initial APIC id: must match the MP table and the LAPIC KVM gives this vCPU.
                // Addressable logical ids per package: a power of two, as on real parts.
                // CLFLUSH line size 8 * 8 = 64 bytes; KVM reports it from the host, maybe zero.
                e.ebx = (e.ebx & 0xff) | (8 << 8) | ((addressableIDs & 0xff) << 16) | (apicID << 24)
                // Hypervisor present: lets the kernel look for the KVM leaves (kvmclock).
                e.ecx |= 1 << 31
                // TSC-deadline timer: emulated by KVM's in-kernel LAPIC when the cap is present.
                if tscDeadlineTimer { e.ecx |= 1 << 24 }
                // PDCM off: the PERF_CAPABILITIES MSR it advertises belongs to the hidden PMU.
                e.ecx &= ~(UInt32(1) << 15)
                // x2APIC (bit 21) stays as KVM reports it: its in-kernel LAPIC emulates x2APIC.
                // HTT: more than one logical processor per package.
                if count > 1 { e.edx |= 1 << 28 } else { e.edx &= ~(UInt32(1) << 28) }
            case 0x4:
                // Cache type 0 ends the list of caches; leave such entries alone.
                guard e.eax & 0x1f != 0 else { break }
                let level = (e.eax >> 5) & 0x7
                // L1/L2 are private to a (single-threaded) core; L3 is shared by the package.
                let sharing = level <= 2 ? UInt32(1) : count
                // Cores per package - 1 in 31:26, logical processors sharing the cache - 1 in 25:14.
                e.eax = (e.eax & 0x3fff) | (((count - 1) & 0x3f) << 26) | (((sharing - 1) & 0xfff) << 14)
            case 0x6:
                // No turbo boost (EAX bit 1) or energy-performance bias (ECX bit 3): the guest
                // cannot control host frequency, and the MSRs are not emulated.
                e.eax &= ~(UInt32(1) << 1)
                e.ecx &= ~(UInt32(1) << 3)
            case 0xa:
                // No architectural performance monitoring: the vPMU is not offered to guests.
                e = CPUIDEntry(function: e.function, index: e.index, flags: e.flags)
            case 0xb, 0x1f:
                e = topologyLevel(e, apicID: apicID, count: count, idBits: idBits)
            case 0x4000_0000:
                // KVM's signature and its highest leaf, so the kernel enables kvmclock & co.
                e = hypervisorSignature(flags: e.flags, maxLeaf: highestHypervisorLeaf(entries))
            case 0x8000_0008 where isAMD:
                // AMD cores per package - 1 (7:0) and APIC id bits (15:12), like leaf 0xB.
                e.ecx = (e.ecx & ~UInt32(0xf0ff)) | ((count - 1) & 0xff) | ((idBits & 0xf) << 12)
            case 0x8000_001e where isAMD:
                // AMD extended APIC id, core (compute unit) id; one thread per core, one node.
                e.eax = apicID
                e.ebx = (e.ebx & ~UInt32(0xffff)) | (apicID & 0xff)
                e.ecx &= ~UInt32(0x7ff)
            default:
                // 0x40000001 (KVM features: kvmclock, async PF, PV EOI...) and everything
                // else pass through as KVM reports them.
                break
            }
            entries[i] = e
        }

        // Leaf 0xB must describe both the SMT and the core level; KVM may list fewer subleaves.
        if entries.contains(where: { $0.function == 0xb }) {
            for level in UInt32(0)...1 where !entries.contains(where: { $0.function == 0xb && $0.index == level }) {
                let blank = CPUIDEntry(function: 0xb, index: level, flags: CPUIDEntry.significantIndex)
                entries.append(topologyLevel(blank, apicID: apicID, count: count, idBits: idBits))
            }
        }
        // Without the signature leaf the kernel never finds the KVM features leaf.
        if !entries.contains(where: { $0.function == 0x4000_0000 }) {
            entries.append(hypervisorSignature(flags: 0, maxLeaf: highestHypervisorLeaf(entries)))
        }
        return entries
    }

    /// Extended topology (0xB / 0x1F) subleaf `e.index`: level 0 SMT with one thread, level 1
    /// the cores of the package, higher levels invalid. EDX = x2APIC id at every level.
    static func topologyLevel(_ e: CPUIDEntry, apicID: UInt32, count: UInt32, idBits: UInt32) -> CPUIDEntry {
        var e = e
        let levelNumber = e.index & 0xff
        switch e.index {
        case 0:  // SMT: shift 0 to reach the core id, 1 logical processor, type 1
            e.eax = 0
            e.ebx = 1
            e.ecx = levelNumber | (1 << 8)
        case 1:  // Core: shift idBits to reach the package id, `count` processors, type 2
            e.eax = idBits
            e.ebx = count
            e.ecx = levelNumber | (2 << 8)
        default:  // Invalid level: ends the enumeration
            e.eax = 0
            e.ebx = 0
            e.ecx = levelNumber
        }
        e.edx = apicID
        return e
    }

    /// The highest KVM leaf KVM reported (0x40000001, KVM_CPUID_FEATURES, in practice); never
    /// one it did not report, whose contents the guest would misread.
    static func highestHypervisorLeaf(_ entries: [CPUIDEntry]) -> UInt32 {
        entries.map(\.function).filter { $0 >= 0x4000_0000 && $0 <= 0x4000_00ff }.max() ?? 0x4000_0000
    }

    /// "KVMKVMKVM\0\0\0" in EBX, ECX, EDX.
    static func hypervisorSignature(flags: UInt32, maxLeaf: UInt32) -> CPUIDEntry {
        CPUIDEntry(function: 0x4000_0000, index: 0, flags: flags, eax: maxLeaf,
                   ebx: 0x4b4d_564b, ecx: 0x564b_4d56, edx: 0x0000_004d)
    }
}
