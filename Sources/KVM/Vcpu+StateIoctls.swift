import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// The per-vCPU get/set ioctls a snapshot needs beyond the boot-time ones in Vcpu.swift:
/// one small method per ioctl, errors naming the ioctl, the vCPU and the errno.
extension Vcpu {
    public func fpu() throws(KVMError) -> kvm_fpu {
        var fpu = kvm_fpu()
        _ = try check("KVM_GET_FPU on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_FPU, &fpu) }
        return fpu
    }

    /// KVM_GET_XSAVE2 (`size` from KVM_CAP_XSAVE2 on the VM, at least 4096) or, with
    /// `size` nil, the 4096-byte KVM_GET_XSAVE.
    public func xsave(size: Int?) throws(KVMError) -> [UInt8] {
        let length = max(size ?? 0, Int(KILN_KVM_XSAVE_LEGACY_SIZE))
        var area = [UInt8](repeating: 0, count: length)
        let (request, name) = size == nil ? (KILN_KVM_GET_XSAVE, "KVM_GET_XSAVE") : (KILN_KVM_GET_XSAVE2, "KVM_GET_XSAVE2")
        _ = try check("\(name) on vCPU \(id)") {
            area.withUnsafeMutableBytes { kiln_ioctl_ptr(descriptor.raw, request, $0.baseAddress) }
        }
        return area
    }

    /// KVM_SET_XSAVE reads as many bytes as KVM_CAP_XSAVE2 says (`vmSize`), so the area is
    /// padded with zeros up to that; an area longer than the VM takes cannot be restored.
    public func setXSAVE(_ area: [UInt8], vmSize: Int) throws(KVMError) {
        let length = max(vmSize, Int(KILN_KVM_XSAVE_LEGACY_SIZE))
        guard area.count <= length else {
            throw .incompatibleState("XSAVE area of \(area.count) bytes, this VM takes \(length)")
        }
        var padded = area
        padded.append(contentsOf: repeatElement(0, count: length - area.count))
        _ = try check("KVM_SET_XSAVE on vCPU \(id)") {
            padded.withUnsafeMutableBytes { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_XSAVE, $0.baseAddress) }
        }
    }

    public func xcrs() throws(KVMError) -> kvm_xcrs {
        var xcrs = kvm_xcrs()
        _ = try check("KVM_GET_XCRS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_XCRS, &xcrs) }
        return xcrs
    }

    public func setXCRs(_ xcrs: kvm_xcrs) throws(KVMError) {
        var xcrs = xcrs
        _ = try check("KVM_SET_XCRS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_XCRS, &xcrs) }
    }

    public func debugRegisters() throws(KVMError) -> kvm_debugregs {
        var regs = kvm_debugregs()
        _ = try check("KVM_GET_DEBUGREGS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_DEBUGREGS, &regs) }
        return regs
    }

    public func setDebugRegisters(_ regs: kvm_debugregs) throws(KVMError) {
        var regs = regs
        _ = try check("KVM_SET_DEBUGREGS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_DEBUGREGS, &regs) }
    }

    public func vcpuEvents() throws(KVMError) -> kvm_vcpu_events {
        var events = kvm_vcpu_events()
        _ = try check("KVM_GET_VCPU_EVENTS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_VCPU_EVENTS, &events) }
        return events
    }

    public func setVcpuEvents(_ events: kvm_vcpu_events) throws(KVMError) {
        var events = events
        _ = try check("KVM_SET_VCPU_EVENTS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_VCPU_EVENTS, &events) }
    }

    public func setMPState(_ state: UInt32) throws(KVMError) {
        var value = kvm_mp_state(mp_state: state)
        _ = try check("KVM_SET_MP_STATE on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_MP_STATE, &value) }
    }

    /// KVM_GET_CPUID2: the CPUID table as it was set on this vCPU (KVM answers E2BIG while
    /// the buffer is too small; 256 entries is KVM's own maximum).
    public func cpuid() throws(KVMError) -> [kvm_cpuid_entry2] {
        var capacity: UInt32 = 64
        while true {
            guard let buffer = kiln_cpuid_alloc(capacity) else { throw .allocationFailed("CPUID buffer") }
            defer { free(buffer) }
            if kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_CPUID2, buffer) >= 0 {
                let entries = kiln_cpuid_entries(buffer)!
                return (0..<Int(min(buffer.pointee.nent, capacity))).map { entries[$0] }
            }
            let code = errno
            guard code == E2BIG, capacity < 4096 else { throw .systemCall(operation: "KVM_GET_CPUID2 on vCPU \(id)", errno: code) }
            capacity *= 2
        }
    }

    /// KVM_GET_TSC_KHZ: the guest's TSC rate.
    public func tscKHz() throws(KVMError) -> UInt32 {
        UInt32(try check("KVM_GET_TSC_KHZ on vCPU \(id)") { kiln_ioctl_val(descriptor.raw, KILN_KVM_GET_TSC_KHZ, 0) })
    }

    public func setTSCKHz(_ khz: UInt32) throws(KVMError) {
        _ = try check("KVM_SET_TSC_KHZ on vCPU \(id)") { kiln_ioctl_val(descriptor.raw, KILN_KVM_SET_TSC_KHZ, UInt(khz)) }
    }

    /// KVM_KVMCLOCK_CTRL: tells the guest (through its kvmclock page) that the host stopped it,
    /// so its soft-lockup watchdog does not fire after a restore. Returns false when the guest
    /// never enabled kvmclock (KVM answers EINVAL): nothing to tell, not an error.
    @discardableResult
    public func notifyClockStopped() throws(KVMError) -> Bool {
        if kiln_ioctl_val(descriptor.raw, KILN_KVM_KVMCLOCK_CTRL, 0) >= 0 { return true }
        let code = errno
        if code == EINVAL { return false }
        throw .systemCall(operation: "KVM_KVMCLOCK_CTRL on vCPU \(id)", errno: code)
    }
}
