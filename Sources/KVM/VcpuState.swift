import CKiln

/// Everything KVM holds for one vCPU that a paused guest needs to resume exactly where it
/// stopped. Plain data: the KVM structures as the kernel's ABI defines them, optional where a
/// host may lack the capability. Encoded by the Snapshot target.
public struct VcpuState: @unchecked Sendable {
    public var id: UInt32
    /// KVM_GET_CPUID2: the table as it was set, restored first (other SET ioctls check it).
    public var cpuid: [kvm_cpuid_entry2]
    public var mpState: UInt32
    public var regs: kvm_regs
    public var sregs: kvm_sregs
    /// Legacy FPU/SSE state; always saved, restored before the XSAVE area supersedes it.
    public var fpu: kvm_fpu
    /// KVM_GET_XSAVE2 / KVM_GET_XSAVE area, nil on a host without KVM_CAP_XSAVE.
    public var xsave: [UInt8]?
    public var xcrs: kvm_xcrs?
    public var debugRegisters: kvm_debugregs?
    public var lapic: kvm_lapic_state
    /// In restore order (IA32_TSC first, IA32_TSC_DEADLINE last).
    public var msrs: [MSREntry]
    public var events: kvm_vcpu_events?
    /// Guest TSC rate in kHz, nil without KVM_CAP_GET_TSC_KHZ.
    public var tscKHz: UInt32?

    public init(id: UInt32, cpuid: [kvm_cpuid_entry2], mpState: UInt32, regs: kvm_regs, sregs: kvm_sregs,
                fpu: kvm_fpu, xsave: [UInt8]?, xcrs: kvm_xcrs?, debugRegisters: kvm_debugregs?,
                lapic: kvm_lapic_state, msrs: [MSREntry], events: kvm_vcpu_events?, tscKHz: UInt32?) {
        self.id = id
        self.cpuid = cpuid
        self.mpState = mpState
        self.regs = regs
        self.sregs = sregs
        self.fpu = fpu
        self.xsave = xsave
        self.xcrs = xcrs
        self.debugRegisters = debugRegisters
        self.lapic = lapic
        self.msrs = msrs
        self.events = events
        self.tscKHz = tscKHz
    }
}

/// What this host's KVM can save and restore, read once per VM from KVM_CHECK_EXTENSION on
/// the VM descriptor (the XSAVE2 size is a per-VM answer).
public struct VcpuStateSupport: Sendable, Equatable {
    /// KVM_CAP_XSAVE2's area size (>= 4096), or nil: then KVM_GET_XSAVE if `xsave`.
    public var xsave2Size: Int?
    public var xsave: Bool
    public var xcrs: Bool
    public var debugRegisters: Bool
    public var vcpuEvents: Bool
    public var getTSCKHz: Bool
    public var setTSCKHz: Bool

    public init(xsave2Size: Int?, xsave: Bool, xcrs: Bool, debugRegisters: Bool, vcpuEvents: Bool,
                getTSCKHz: Bool, setTSCKHz: Bool) {
        self.xsave2Size = xsave2Size
        self.xsave = xsave
        self.xcrs = xcrs
        self.debugRegisters = debugRegisters
        self.vcpuEvents = vcpuEvents
        self.getTSCKHz = getTSCKHz
        self.setTSCKHz = setTSCKHz
    }

    /// The area size KVM_SET_XSAVE reads on this VM.
    public var xsaveAreaSize: Int { max(xsave2Size ?? 0, Int(KILN_KVM_XSAVE_LEGACY_SIZE)) }
}

extension VirtualMachine {
    public func stateSupport() -> VcpuStateSupport {
        let xsave2 = Int(extensionValue(KILN_KVM_CAP_XSAVE2))
        return VcpuStateSupport(
            xsave2Size: xsave2 >= Int(KILN_KVM_XSAVE_LEGACY_SIZE) ? xsave2 : nil,
            xsave: extensionValue(KILN_KVM_CAP_XSAVE) > 0,
            xcrs: extensionValue(KILN_KVM_CAP_XCRS) > 0,
            debugRegisters: extensionValue(KILN_KVM_CAP_DEBUGREGS) > 0,
            vcpuEvents: extensionValue(KILN_KVM_CAP_VCPU_EVENTS) > 0,
            getTSCKHz: extensionValue(KILN_KVM_CAP_GET_TSC_KHZ) > 0,
            setTSCKHz: extensionValue(KILN_KVM_CAP_TSC_CONTROL) > 0)
    }
}
