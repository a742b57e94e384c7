import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// One virtual CPU: its file descriptor and its mapped `kvm_run` area.
/// Only the thread that runs it calls `run()`; `requestExit()` may be called from any thread.
public final class Vcpu: @unchecked Sendable {
    public let id: UInt32
    let descriptor: OwnedDescriptor
    let run: UnsafeMutablePointer<kvm_run>
    let runSize: Int

    init(id: UInt32, descriptor: OwnedDescriptor, run: UnsafeMutableRawPointer, runSize: Int) {
        self.id = id
        self.descriptor = descriptor
        self.run = run.bindMemory(to: kvm_run.self, capacity: 1)
        self.runSize = runSize
    }

    deinit { munmap(run, runSize) }

    /// Enters the guest until the next exit KVM hands to user space, and decodes it.
    public func runOnce() throws(KVMError) -> VcpuExit {
        if kiln_ioctl_val(descriptor.raw, KILN_KVM_RUN, 0) < 0 {
            let code = errno
            if code == EINTR || code == EAGAIN { return .interrupted }
            throw .systemCall(operation: "KVM_RUN on vCPU \(id)", errno: code)
        }
        return decodeExit()
    }

    /// Makes the current or next KVM_RUN return at once (pair with a signal to the vCPU thread).
    public func requestExit() { kiln_run_set_immediate_exit(run, 1) }
    public func clearExitRequest() { kiln_run_set_immediate_exit(run, 0) }

    private func decodeExit() -> VcpuExit {
        let reason = kiln_run_exit_reason(run)
        switch Int32(reason) {
        case KVM_EXIT_IO:
            let size = Int(kiln_run_io_size(run))
            let count = Int(kiln_run_io_count(run))
            let offset = kiln_run_io_data_offset(run)
            // The kernel fills these, but a bad offset would make us touch memory outside the
            // mapping, so check it like any other input.
            let length = size * count
            guard size > 0, offset < UInt64(runSize), length <= runSize - Int(offset) else {
                return .unhandled(reason: reason)
            }
            let data = UnsafeMutableRawPointer(run) + Int(offset)
            let port = kiln_run_io_port(run)
            if kiln_run_io_direction(run) == UInt8(KVM_EXIT_IO_OUT) {
                return .ioOut(port: port, size: size, data: UnsafeRawBufferPointer(start: data, count: length))
            }
            return .ioIn(port: port, size: size, data: UnsafeMutableRawBufferPointer(start: data, count: length))
        case KVM_EXIT_MMIO:
            let length = min(Int(kiln_run_mmio_length(run)), 8)
            let data = UnsafeMutableRawPointer(kiln_run_mmio_data(run)!)
            let address = kiln_run_mmio_address(run)
            if kiln_run_mmio_is_write(run) != 0 {
                return .mmioWrite(address: address, data: UnsafeRawBufferPointer(start: data, count: length))
            }
            return .mmioRead(address: address, data: UnsafeMutableRawBufferPointer(start: data, count: length))
        case KVM_EXIT_HLT: return .halt
        case KVM_EXIT_SHUTDOWN: return .shutdown
        case KVM_EXIT_SYSTEM_EVENT: return .systemEvent(type: kiln_run_system_event_type(run))
        case KVM_EXIT_FAIL_ENTRY:
            return .failEntry(hardwareReason: kiln_run_fail_entry_reason(run), cpu: kiln_run_fail_entry_cpu(run))
        case KVM_EXIT_INTERNAL_ERROR: return .internalError(suberror: kiln_run_internal_suberror(run))
        case KVM_EXIT_INTR: return .interrupted
        default: return .unhandled(reason: reason)
        }
    }

    // MARK: Register state

    public func registers() throws(KVMError) -> kvm_regs {
        var regs = kvm_regs()
        _ = try check("KVM_GET_REGS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_REGS, &regs) }
        return regs
    }

    public func setRegisters(_ regs: kvm_regs) throws(KVMError) {
        var regs = regs
        _ = try check("KVM_SET_REGS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_REGS, &regs) }
    }

    public func specialRegisters() throws(KVMError) -> kvm_sregs {
        var sregs = kvm_sregs()
        _ = try check("KVM_GET_SREGS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_SREGS, &sregs) }
        return sregs
    }

    public func setSpecialRegisters(_ sregs: kvm_sregs) throws(KVMError) {
        var sregs = sregs
        _ = try check("KVM_SET_SREGS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_SREGS, &sregs) }
    }

    public func setFPU(_ fpu: kvm_fpu) throws(KVMError) {
        var fpu = fpu
        _ = try check("KVM_SET_FPU on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_FPU, &fpu) }
    }

    /// KVM_SET_MSRS; fails unless every MSR was accepted, naming the first one KVM refused.
    public func setMSRs(_ msrs: [(index: UInt32, value: UInt64)]) throws(KVMError) {
        guard let buffer = kiln_msrs_alloc(UInt32(msrs.count)) else { throw .allocationFailed("MSR buffer") }
        defer { free(buffer) }
        let entries = kiln_msrs_entries(buffer)!
        for (i, msr) in msrs.enumerated() {
            entries[i] = kvm_msr_entry(index: msr.index, reserved: 0, data: msr.value)
        }
        let written = try check("KVM_SET_MSRS on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_MSRS, buffer) }
        guard Int(written) == msrs.count else {
            let refused = msrs[Int(written)].index
            throw .systemCall(operation: "KVM_SET_MSRS on vCPU \(id) (MSR 0x\(String(refused, radix: 16)) refused)", errno: EINVAL)
        }
    }

    public func setCPUID(_ entries: [kvm_cpuid_entry2]) throws(KVMError) {
        guard let cpuid = kiln_cpuid_alloc(UInt32(entries.count)) else { throw .allocationFailed("CPUID buffer") }
        defer { free(cpuid) }
        let destination = kiln_cpuid_entries(cpuid)!
        for (i, entry) in entries.enumerated() { destination[i] = entry }
        _ = try check("KVM_SET_CPUID2 on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_CPUID2, cpuid) }
    }

    public func localAPIC() throws(KVMError) -> kvm_lapic_state {
        var state = kvm_lapic_state()
        _ = try check("KVM_GET_LAPIC on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_LAPIC, &state) }
        return state
    }

    public func setLocalAPIC(_ state: kvm_lapic_state) throws(KVMError) {
        var state = state
        _ = try check("KVM_SET_LAPIC on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_LAPIC, &state) }
    }

    /// LINT0 as ExtINT (the legacy PIC's output) and LINT1 as NMI, the wiring Linux expects
    /// from a PC (the MP table says the same).
    public func configureLocalInterrupts() throws(KVMError) {
        var state = try localAPIC()
        let lvtLINT0: UInt32 = 0x350, lvtLINT1: UInt32 = 0x360
        let deliveryModeMask: UInt32 = 0x700, extINT: UInt32 = 0x700, nmi: UInt32 = 0x400
        kiln_lapic_set(&state, lvtLINT0, (kiln_lapic_get(&state, lvtLINT0) & ~deliveryModeMask) | extINT)
        kiln_lapic_set(&state, lvtLINT1, (kiln_lapic_get(&state, lvtLINT1) & ~deliveryModeMask) | nmi)
        try setLocalAPIC(state)
    }

    public func mpState() throws(KVMError) -> UInt32 {
        var state = kvm_mp_state()
        _ = try check("KVM_GET_MP_STATE on vCPU \(id)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_GET_MP_STATE, &state) }
        return state.mp_state
    }
}
