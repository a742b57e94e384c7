import CKiln
import KVM
import X86Boot

/// The vCPUs, created with their CPUID on vCPU 0's thread while the builder loads the kernel and
/// wires the devices: KVM_GET_SUPPORTED_CPUID has the host execute CPUID for every leaf, which
/// traps here (~0.3 ms), and creating a vCPU and setting its CPUID take ~0.2 ms more, about as
/// long as the builder's own work up to the vCPUs' registers.
final class VcpuPreparation: @unchecked Sendable {
    // Written by the preparing thread before it reports ready (StandbyThread), read after that.
    private(set) var vcpus: [Vcpu] = []
    private(set) var msrIndexList: [UInt32] = []

    func run(kvm: Kvm, vm: VirtualMachine, count: Int) throws(VMMError) {
        let hostCPUID: [kvm_cpuid_entry2]
        do {
            hostCPUID = try kvm.supportedCPUID()
            msrIndexList = try kvm.msrIndexList()
        } catch { throw .kvm(error) }
        let supported = hostCPUID.map(CPUIDConversion.entry)
        for index in 0..<count {
            let cpuid: [CPUIDEntry]
            do {
                cpuid = try CPUID.adjust(supported, vcpuIndex: index, vcpuCount: count)
            } catch { throw .boot("CPUID for vCPU \(index): \(error)") }
            do {
                let vcpu = try vm.createVcpu(id: UInt32(index))
                try vcpu.setCPUID(cpuid.map(CPUIDConversion.kvmEntry))
                vcpus.append(vcpu)
            } catch { throw .kvm(error) }
        }
    }
}
