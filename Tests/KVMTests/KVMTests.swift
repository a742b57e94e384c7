import KVM
import Testing

/// These need /dev/kvm. Where it is missing they fail and say so: a KVM layer that cannot be
/// exercised is not a passing one.
@Suite struct KVMTests {
    @Test func opensDevKVMAndChecksCapabilities() throws {
        let kvm = try Kvm()
        try kvm.checkRequiredCapabilities()
        #expect(try kvm.vcpuMmapSize() >= 4096)
    }

    @Test func missingDeviceIsATypedError() {
        #expect(throws: KVMError.systemCall(operation: "open /nonexistent/kvm", errno: 2)) {
            try Kvm(path: "/nonexistent/kvm")
        }
    }

    @Test func supportedCPUIDHasBasicAndParavirtLeaves() throws {
        let entries = try Kvm().supportedCPUID()
        #expect(entries.contains { $0.function == 0 })
        #expect(entries.contains { $0.function == 1 })
        #expect(entries.contains { $0.function == 0x4000_0000 })
    }

    @Test func msrListIsNotEmpty() throws {
        #expect(try Kvm().msrIndexList().contains(0x10))
    }

    @Test func vmWithIrqchipMemoryAndVcpu() throws {
        let kvm = try Kvm()
        let vm = try kvm.createVM()
        try vm.setTSSAddress(0xfffb_d000)
        try vm.setIdentityMapAddress(0xfffb_c000)
        try vm.createIRQChip()
        try vm.createPIT2()
        let vcpu = try vm.createVcpu(id: 0)
        try vcpu.configureLocalInterrupts()
        let lapic = try vcpu.localAPIC()
        _ = lapic
        #expect(try vcpu.specialRegisters().cr0 & 1 == 0) // reset state: real mode
    }

    @Test func duplicateVcpuIdFailsWithErrno() throws {
        let vm = try Kvm().createVM()
        _ = try vm.createVcpu(id: 0)
        #expect(throws: KVMError.self) { try vm.createVcpu(id: 0) }
    }

    @Test func errorNamesOperationAndErrno() {
        let error = KVMError.systemCall(operation: "KVM_RUN on vCPU 1", errno: 4)
        #expect(error.description == "KVM_RUN on vCPU 1 failed: Interrupted system call (errno 4)")
        #expect(KVMError.missingCapability("KVM_CAP_IRQFD").description.contains("KVM_CAP_IRQFD"))
    }
}
