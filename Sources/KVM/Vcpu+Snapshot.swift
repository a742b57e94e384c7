import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// Capture and restore of a vCPU's whole state. Both must run on a vCPU that is not in
/// KVM_RUN, and with every vCPU of the VM stopped (KVM_{GET,SET}_VCPU_EVENTS are not safe
/// while other vCPUs run). The orders follow Firecracker's and Cloud Hypervisor's notes.
extension Vcpu {
    /// Finishes the instruction behind the last I/O or MMIO exit without running the guest
    /// further: KVM completes such an exit only on the next KVM_RUN, and that pending step is
    /// not part of any state it lets user space read (api.rst, KVM_RUN). KVM_RUN with
    /// immediate_exit set completes it and returns EINTR at once. Call on the paused vCPU,
    /// after the last exit was handled (IN data filled in), before `captureState`.
    public func completePendingExit() throws(KVMError) {
        kiln_run_set_immediate_exit(run, 1)
        defer { kiln_run_set_immediate_exit(run, 0) }
        if kiln_ioctl_val(descriptor.raw, KILN_KVM_RUN, 0) >= 0 { return }
        let code = errno
        guard code == EINTR || code == EAGAIN else {
            throw .systemCall(operation: "KVM_RUN (immediate exit) on vCPU \(id)", errno: code)
        }
    }

    /// Save order: MP state first (KVM_GET_MP_STATE accepts pending INIT/SIPI, which may change
    /// LAPIC and registers), then registers, FPU/XSAVE, XCRs, debug registers, LAPIC, MSRs,
    /// and vCPU events last (the GET ioctls before it may change what it reports).
    /// `msrCandidates` comes from `SnapshotMSRs.candidates`; only the ones KVM reads are kept.
    public func captureState(msrCandidates: [UInt32], support: VcpuStateSupport) throws(KVMError) -> VcpuState {
        let cpuid = try cpuid()
        let mpState = try mpState()
        let regs = try registers()
        let sregs = try specialRegisters()
        let fpu = try fpu()
        let xsave = try captureXSAVE(support)
        let xcrs = support.xcrs ? try xcrs() : nil
        let debug = support.debugRegisters ? try debugRegisters() : nil
        let lapic = try localAPIC()
        let msrs = try readMSRs(SnapshotMSRs.restoreOrder(msrCandidates))
        let events = support.vcpuEvents ? try vcpuEvents() : nil
        let tsc = support.getTSCKHz ? try tscKHz() : nil
        return VcpuState(id: id, cpuid: cpuid, mpState: mpState, regs: regs, sregs: sregs, fpu: fpu, xsave: xsave,
                         xcrs: xcrs, debugRegisters: debug, lapic: lapic, msrs: msrs, events: events, tscKHz: tsc)
    }

    /// XSAVE2 when the VM reports its size, else XSAVE; a host that advertises a capability
    /// but refuses the ioctl (EINVAL/ENOTTY, as software KVMs may) falls back a step, down to
    /// the legacy FPU state alone.
    private func captureXSAVE(_ support: VcpuStateSupport) throws(KVMError) -> [UInt8]? {
        if let size = support.xsave2Size {
            do { return try xsave(size: size) } catch let error where Self.isUnsupported(error) {}
        }
        guard support.xsave else { return nil }
        do { return try xsave(size: nil) } catch let error where Self.isUnsupported(error) { return nil }
    }

    static func isUnsupported(_ error: KVMError) -> Bool {
        if case let .systemCall(_, code) = error { return code == EINVAL || code == ENOTTY || code == ENOSYS }
        return false
    }

    /// Restore order: CPUID first (later SETs check features against it), MP state, then
    /// SREGS before REGS (the mode first, then the registers that live in it; SET_REGS also
    /// clears pending exceptions, which the events restore last), FPU then XSAVE, XCRs, debug
    /// registers, LAPIC after SREGS (SREGS restore the APIC base MSR) and before MSRs (the TSC
    /// deadline only sticks on a configured LAPIC), MSRs, vCPU events last.
    /// Missing optional parts (saved on a host without the capability) are left at reset.
    public func restoreState(_ state: VcpuState, support: VcpuStateSupport) throws(KVMError) {
        try setCPUID(state.cpuid)
        if let saved = state.tscKHz, support.getTSCKHz {
            try restoreTSCFrequency(saved, canScale: support.setTSCKHz)
        }
        try setMPState(state.mpState)
        try setSpecialRegisters(state.sregs)
        try setRegisters(state.regs)
        try setFPU(state.fpu)
        if let area = state.xsave {
            guard support.xsave else { throw .incompatibleState("the saved XSAVE area needs KVM_CAP_XSAVE") }
            try setXSAVE(area, vmSize: support.xsaveAreaSize)
        }
        if let xcrs = state.xcrs, support.xcrs { try setXCRs(xcrs) }
        if let debug = state.debugRegisters, support.debugRegisters { try setDebugRegisters(debug) }
        try setLocalAPIC(state.lapic)
        try writeMSRs(state.msrs)
        if let events = state.events, support.vcpuEvents { try setVcpuEvents(events) }
    }

    /// The guest keeps its TSC rate: scaled when KVM can, otherwise it must already match
    /// within 250 ppm (the tolerance Firecracker uses) or the guest's clocks would drift.
    private func restoreTSCFrequency(_ saved: UInt32, canScale: Bool) throws(KVMError) {
        let current = try tscKHz()
        let difference = saved > current ? saved - current : current - saved
        guard UInt64(difference) * 4000 > UInt64(saved) else { return }
        guard canScale else { throw .tscFrequencyMismatch(savedKHz: saved, hostKHz: current) }
        try setTSCKHz(saved)
    }
}
