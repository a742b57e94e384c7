import CKiln
import KVM

/// What KVM supports on this host, for the vCPUs' CPUID and MSRs. Read on a VM thread while the
/// builder goes on: KVM_GET_SUPPORTED_CPUID has the host execute CPUID for every leaf, which
/// traps here (~0.3 ms, about as long as creating the VM, its memory slot, irqchip and PIT).
final class HostSupport: @unchecked Sendable {
    // Written by the reading thread before it reports ready (StandbyThread), read after that.
    private(set) var cpuid: [kvm_cpuid_entry2] = []
    private(set) var msrIndexList: [UInt32] = []

    func read(from kvm: Kvm) throws(KVMError) {
        cpuid = try kvm.supportedCPUID()
        msrIndexList = try kvm.msrIndexList()
    }
}
