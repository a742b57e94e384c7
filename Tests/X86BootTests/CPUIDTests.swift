import Testing
@testable import X86Boot

@Suite struct CPUIDTests {
    /// Roughly what KVM_GET_SUPPORTED_CPUID returns on an Intel host.
    let supported: [CPUIDEntry] = [
        CPUIDEntry(function: 0, eax: 0x1f, ebx: 0x756e_6547, ecx: 0x6c65_746e, edx: 0x4965_6e69),  // GenuineIntel
        CPUIDEntry(function: 1, eax: 0x806ea, ebx: 0x0510_0800 | 0x07, ecx: 0x7ffa_fbbf & ~UInt32(1 << 31) | (1 << 21),
                   edx: 0xbfeb_fbff & ~UInt32(1 << 28)),
        CPUIDEntry(function: 4, index: 0, flags: 1, eax: 0x1c00_4121),  // L1d
        CPUIDEntry(function: 4, index: 1, flags: 1, eax: 0x1c00_4143),  // L2
        CPUIDEntry(function: 4, index: 2, flags: 1, eax: 0x1c03_c163),  // L3
        CPUIDEntry(function: 4, index: 3, flags: 1, eax: 0),            // end of list
        CPUIDEntry(function: 6, eax: 0x27f7, ebx: 2, ecx: 0x9),
        CPUIDEntry(function: 0xa, eax: 0x0730_0404, edx: 0x603),
        CPUIDEntry(function: 0xb, index: 0, flags: 1, eax: 1, ebx: 2, ecx: 0x100, edx: 5),
        CPUIDEntry(function: 0x4000_0000, eax: 0x4000_0001),
        CPUIDEntry(function: 0x4000_0001, eax: 0x0100_00fb),
    ]

    func entry(_ entries: [CPUIDEntry], _ function: UInt32, _ index: UInt32 = 0) -> CPUIDEntry? {
        entries.first { $0.function == function && $0.index == index }
    }

    @Test func leaf1CarriesApicIdCountAndHypervisorBit() throws {
        let out = try CPUID.adjust(supported, vcpuIndex: 2, vcpuCount: 3)
        let leaf = try #require(entry(out, 1))
        #expect(leaf.ebx >> 24 == 2)                 // APIC id
        #expect((leaf.ebx >> 16) & 0xff == 4)        // addressable ids: 3 rounded up to 4
        #expect((leaf.ebx >> 8) & 0xff == 8)         // CLFLUSH 64 bytes
        #expect(leaf.ebx & 0xff == 0x07)             // brand index kept
        #expect(leaf.ecx & (1 << 31) != 0)           // hypervisor
        #expect(leaf.ecx & (1 << 21) != 0)           // x2APIC kept
        #expect(leaf.ecx & (1 << 24) != 0)           // TSC deadline
        #expect(leaf.ecx & (1 << 15) == 0)           // PDCM off
        #expect(leaf.edx & (1 << 28) != 0)           // HTT with 3 vCPUs
        #expect(leaf.eax == 0x806ea)

        let single = try #require(entry(try CPUID.adjust(supported, vcpuIndex: 0, vcpuCount: 1), 1))
        #expect(single.edx & (1 << 28) == 0)
        #expect((single.ebx >> 16) & 0xff == 1)
        #expect(single.ebx >> 24 == 0)
    }

    @Test func leaf4DescribesCoresAndSharing() throws {
        let out = try CPUID.adjust(supported, vcpuIndex: 0, vcpuCount: 4)
        for index: UInt32 in 0...2 {
            let leaf = try #require(entry(out, 4, index))
            #expect(leaf.eax >> 26 == 3, "cores per package - 1")
            #expect(leaf.eax & 0x3fff == supported[2 + Int(index)].eax & 0x3fff, "cache description kept")
        }
        #expect((try #require(entry(out, 4, 0)).eax >> 14) & 0xfff == 0)  // L1 private
        #expect((try #require(entry(out, 4, 1)).eax >> 14) & 0xfff == 0)  // L2 private
        #expect((try #require(entry(out, 4, 2)).eax >> 14) & 0xfff == 3)  // L3 shared by 4
        #expect(try #require(entry(out, 4, 3)).eax == 0)
    }

    @Test func extendedTopologyHasSMTAndCoreLevels() throws {
        let out = try CPUID.adjust(supported, vcpuIndex: 5, vcpuCount: 6)
        let smt = try #require(entry(out, 0xb, 0))
        #expect(smt.eax == 0 && smt.ebx == 1 && smt.ecx == 0x100 && smt.edx == 5)
        // Subleaf 1 was missing and is added.
        let core = try #require(entry(out, 0xb, 1))
        #expect(core.eax == 3 && core.ebx == 6 && core.ecx == 0x201 && core.edx == 5)
        #expect(core.flags == CPUIDEntry.significantIndex)
        #expect(out.filter { $0.function == 0xb }.count == 2)
    }

    @Test func kvmSignatureAndFeaturesLeaves() throws {
        let out = try CPUID.adjust(supported, vcpuIndex: 0, vcpuCount: 1)
        let signature = try #require(entry(out, 0x4000_0000))
        var text: [UInt8] = []
        for register in [signature.ebx, signature.ecx, signature.edx] {
            text += (0..<4).map { UInt8(truncatingIfNeeded: register >> (8 * $0)) }
        }
        #expect(text == Array("KVMKVMKVM\0\0\0".utf8))
        #expect(signature.eax == 0x4000_0001)
        #expect(entry(out, 0x4000_0001) == supported.last)

        // Added when KVM did not list it.
        let without = try CPUID.adjust(supported.filter { $0.function != 0x4000_0000 }, vcpuIndex: 0, vcpuCount: 1)
        #expect(entry(without, 0x4000_0000)?.ebx == 0x4b4d_564b)
        #expect(entry(without, 0x4000_0000)?.eax == 0x4000_0001)
    }

    @Test func powerAndPerformanceMonitoringAreHidden() throws {
        let out = try CPUID.adjust(supported, vcpuIndex: 0, vcpuCount: 1)
        let power = try #require(entry(out, 6))
        #expect(power.eax == 0x27f7 & ~UInt32(2) && power.ecx == 0x1 && power.ebx == 2)
        #expect(entry(out, 0xa) == CPUIDEntry(function: 0xa))
    }

    @Test func otherLeavesPassThroughAndCountIsChecked() throws {
        let out = try CPUID.adjust(supported, vcpuIndex: 0, vcpuCount: 2)
        #expect(entry(out, 0) == supported[0])
        #expect(throws: BootError.invalidVcpuIndex(2, count: 2)) { try CPUID.adjust(supported, vcpuIndex: 2, vcpuCount: 2) }
        #expect(throws: BootError.invalidVcpuCount(0, maximum: 255)) { try CPUID.adjust(supported, vcpuIndex: 0, vcpuCount: 0) }
    }

    @Test func amdCoreCountLeaves() throws {
        let amd: [CPUIDEntry] = [
            CPUIDEntry(function: 0, eax: 0x10, ebx: 0x6874_7541, ecx: 0x444d_4163, edx: 0x6974_6e65),  // AuthenticAMD
            CPUIDEntry(function: 0x8000_0008, eax: 0x3030, ecx: 0x0000_70ff),
            CPUIDEntry(function: 0x8000_001e, eax: 9, ebx: 0x0000_0107, ecx: 0x0000_0301),
        ]
        let out = try CPUID.adjust(amd, vcpuIndex: 3, vcpuCount: 4)
        #expect(entry(out, 0x8000_0008)?.ecx == 0x2003)  // 4 cores, 2 APIC id bits
        #expect(entry(out, 0x8000_001e)?.eax == 3)
        #expect(entry(out, 0x8000_001e)?.ebx == 0x03)
        #expect(entry(out, 0x8000_001e)?.ecx == 0)
        // On Intel those leaves are left alone.
        let intel = try CPUID.adjust([supported[0], amd[1]], vcpuIndex: 0, vcpuCount: 4)
        #expect(entry(intel, 0x8000_0008) == amd[1])
    }
}
