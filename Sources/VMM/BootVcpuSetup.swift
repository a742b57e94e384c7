import CKiln
import KVM
import X86Boot

/// Puts `BootCPUState` (plain data from X86Boot) into a vCPU's KVM registers.
enum BootVcpuSetup {
    /// Registers, segments, FPU and MSRs of the boot vCPU for the 64-bit Linux entry.
    static func apply(_ state: BootCPUState, to vcpu: Vcpu, hostMSRs: [UInt32]) throws(KVMError) {
        var sregs = try vcpu.specialRegisters()
        sregs.cs = kvmSegment(state.cs)
        sregs.ds = kvmSegment(state.ds)
        sregs.es = kvmSegment(state.es)
        sregs.fs = kvmSegment(state.fs)
        sregs.gs = kvmSegment(state.gs)
        sregs.ss = kvmSegment(state.ss)
        sregs.tr = kvmSegment(state.tr)
        sregs.gdt = kvm_dtable(base: state.gdt.base, limit: state.gdt.limit, padding: (0, 0, 0))
        sregs.idt = kvm_dtable(base: state.idt.base, limit: state.idt.limit, padding: (0, 0, 0))
        sregs.cr0 = state.cr0
        sregs.cr3 = state.cr3
        sregs.cr4 = state.cr4
        sregs.efer = state.efer
        try vcpu.setSpecialRegisters(sregs)

        var regs = kvm_regs()
        regs.rip = state.rip
        regs.rsp = state.rsp
        regs.rbp = state.rbp
        regs.rsi = state.rsi
        regs.rflags = state.rflags
        try vcpu.setRegisters(regs)
        try applyCommon(state, to: vcpu, hostMSRs: hostMSRs)
    }

    /// FPU and MSRs every vCPU gets, application processors included (the kernel's INIT/SIPI
    /// sets their registers, but not these).
    static func applyCommon(_ state: BootCPUState, to vcpu: Vcpu, hostMSRs: [UInt32]) throws(KVMError) {
        try applyFPU(controlWord: state.fpuControlWord, mxcsr: state.mxcsr, to: vcpu)
        try applyMSRs(state.msrs, to: vcpu, hostMSRs: hostMSRs)
    }

    private static func applyFPU(controlWord: UInt16, mxcsr: UInt32, to vcpu: Vcpu) throws(KVMError) {
        var fpu = kvm_fpu()
        fpu.fcw = controlWord
        fpu.mxcsr = mxcsr
        try vcpu.setFPU(fpu)
    }

    /// Only MSRs the host supports are set, so a host without (say) MTRR emulation still boots.
    private static func applyMSRs(_ msrs: [ModelSpecificRegister], to vcpu: Vcpu, hostMSRs: [UInt32]) throws(KVMError) {
        let supported = Set(hostMSRs)
        try vcpu.setMSRs(msrs.filter { supported.contains($0.index) }.map { ($0.index, $0.value) })
    }

    private static func kvmSegment(_ segment: Segment) -> kvm_segment {
        var result = kvm_segment()
        result.base = segment.base
        result.limit = segment.limit
        result.selector = segment.selector
        result.type = segment.type
        result.present = segment.present ? 1 : 0
        result.dpl = segment.dpl
        result.db = segment.db ? 1 : 0
        result.s = segment.s ? 1 : 0
        result.l = segment.l ? 1 : 0
        result.g = segment.g ? 1 : 0
        result.avl = segment.avl ? 1 : 0
        result.unusable = segment.unusable ? 1 : 0
        return result
    }
}
