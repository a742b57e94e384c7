import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// The `/dev/kvm` system handle: API version, capabilities and the host's supported CPUID/MSRs.
public final class Kvm: @unchecked Sendable {
    public static let requiredAPIVersion: Int32 = 12
    let descriptor: OwnedDescriptor

    public init(path: String = "/dev/kvm") throws(KVMError) {
        let fd = try check("open \(path)") { open(path, O_RDWR | O_CLOEXEC) }
        descriptor = OwnedDescriptor(fd)
        let version = try check("KVM_GET_API_VERSION") { kiln_ioctl_val(fd, KILN_KVM_GET_API_VERSION, 0) }
        guard version == Self.requiredAPIVersion else { throw .unsupportedAPIVersion(version) }
    }

    /// KVM_CHECK_EXTENSION: 0 when absent, otherwise a capability-specific positive value.
    public func extensionValue(_ capability: Int32) -> Int32 {
        max(0, kiln_ioctl_val(descriptor.raw, KILN_KVM_CHECK_EXTENSION, UInt(capability)))
    }

    /// Throws naming the first required capability this host lacks.
    public func checkRequiredCapabilities(_ capabilities: [Capability] = Capability.allCases) throws(KVMError) {
        for capability in capabilities where extensionValue(capability.rawValue) <= 0 {
            throw .missingCapability(capability.name)
        }
    }

    public func vcpuMmapSize() throws(KVMError) -> Int {
        Int(try check("KVM_GET_VCPU_MMAP_SIZE") { kiln_ioctl_val(descriptor.raw, KILN_KVM_GET_VCPU_MMAP_SIZE, 0) })
    }

    /// KVM_GET_SUPPORTED_CPUID.
    public func supportedCPUID() throws(KVMError) -> [kvm_cpuid_entry2] {
        try growingQuery("KVM_GET_SUPPORTED_CPUID", initialCapacity: 128, limit: 4096,
                         allocate: kiln_cpuid_alloc) { cpuid in
            let entries = kiln_cpuid_entries(cpuid)!
            return (0..<Int(cpuid.pointee.nent)).map { entries[$0] }
        } issue: { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_SUPPORTED_CPUID, $0) }
    }

    /// KVM_GET_MSR_INDEX_LIST: the MSRs this host lets a guest save and restore.
    public func msrIndexList() throws(KVMError) -> [UInt32] {
        try growingQuery("KVM_GET_MSR_INDEX_LIST", initialCapacity: 256, limit: 8192,
                         allocate: kiln_msr_list_alloc) { list in
            let indices = kiln_msr_list_indices(list)!
            return (0..<Int(list.pointee.nmsrs)).map { indices[$0] }
        } issue: { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_MSR_INDEX_LIST, $0) }
    }

    /// Issues a query whose answer has a kernel-chosen length, doubling the buffer while the
    /// kernel answers E2BIG.
    private func growingQuery<Buffer, Result>(
        _ operation: String, initialCapacity: UInt32, limit: UInt32,
        allocate: (UInt32) -> UnsafeMutablePointer<Buffer>?,
        read: (UnsafeMutablePointer<Buffer>) -> Result,
        issue: (UnsafeMutablePointer<Buffer>) -> Int32
    ) throws(KVMError) -> Result {
        var capacity = initialCapacity
        while true {
            guard let buffer = allocate(capacity) else { throw .allocationFailed("\(operation) buffer") }
            defer { free(buffer) }
            if issue(buffer) >= 0 { return read(buffer) }
            let code = errno
            guard code == E2BIG, capacity < limit else { throw .systemCall(operation: operation, errno: code) }
            capacity *= 2
        }
    }

    public func createVM() throws(KVMError) -> VirtualMachine {
        let fd = try check("KVM_CREATE_VM") { kiln_ioctl_val(descriptor.raw, KILN_KVM_CREATE_VM, 0) }
        return VirtualMachine(descriptor: OwnedDescriptor(fd), vcpuMmapSize: try vcpuMmapSize())
    }
}
