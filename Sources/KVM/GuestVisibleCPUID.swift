import CKiln

extension Kvm {
    /// The CPUID a vCPU of this host ends up with when given everything KVM supports: a
    /// scratch VM and vCPU, KVM_SET_CPUID2 of KVM_GET_SUPPORTED_CPUID, KVM_GET_CPUID2.
    /// On hardware KVM that is the supported list itself; on this machine's PVM it is not:
    /// PVM reports a minimal supported list but vCPUs see (and report) the host's features,
    /// since ring-3 guest code runs natively. Snapshot compatibility checks compare a saved
    /// guest's CPUID against this, so both sides mean "what a guest here can use".
    public func guestVisibleCPUID() throws(KVMError) -> [kvm_cpuid_entry2] {
        let vcpu = try createVM().createVcpu(id: 0)
        try vcpu.setCPUID(try supportedCPUID())
        return try vcpu.cpuid()
    }
}
