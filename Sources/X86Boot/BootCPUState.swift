import GuestMemory

/// A model-specific register and the value it gets before the first KVM_RUN.
public struct ModelSpecificRegister: Sendable, Equatable {
    public var index: UInt32
    public var value: UInt64

    public init(index: UInt32, value: UInt64) {
        self.index = index
        self.value = value
    }
}

/// The boot vCPU's register state for the Linux 64-bit entry, as plain data (the KVM layer
/// maps it into kvm_regs / kvm_sregs / kvm_fpu / kvm_msrs verbatim). General registers not
/// listed are zero. Fields kvm_sregs has and this lacks (ldt, cr2, cr8, apic_base, the
/// interrupt bitmap) keep KVM's reset values: read sregs, apply these, write them back.
/// Application processors need none of this: the kernel starts them with INIT/SIPI.
public struct BootCPUState: Sendable, Equatable {
    // CR0
    public static let cr0ProtectionEnable: UInt64 = 1 << 0
    public static let cr0ExtensionType: UInt64 = 1 << 4
    public static let cr0Paging: UInt64 = 1 << 31
    // CR4
    public static let cr4PhysicalAddressExtension: UInt64 = 1 << 5
    // EFER
    public static let eferLongModeEnable: UInt64 = 1 << 8
    public static let eferLongModeActive: UInt64 = 1 << 10
    /// RFLAGS bit 1 is reserved and always reads 1; interrupts stay off (IF = 0), as the
    /// protocol requires.
    public static let rflagsReserved: UInt64 = 1 << 1

    public var rip: UInt64
    public var rsp: UInt64
    public var rbp: UInt64
    /// Linux reads the zero page address from %rsi.
    public var rsi: UInt64
    public var rflags: UInt64

    public var cr0: UInt64
    public var cr3: UInt64
    public var cr4: UInt64
    public var efer: UInt64

    public var cs: Segment
    public var ds: Segment
    public var es: Segment
    public var fs: Segment
    public var gs: Segment
    public var ss: Segment
    public var tr: Segment
    public var gdt: DescriptorTable
    public var idt: DescriptorTable

    /// x87 control word and MXCSR at their power-on values (all exceptions masked).
    public var fpuControlWord: UInt16
    public var mxcsr: UInt32
    public var msrs: [ModelSpecificRegister]

    /// Long mode with paging on the identity map, flat segments from `GDT`, stack at
    /// `Layout.bootStack`, %rsi = zero page, entering at `entry`.
    public static func longModeEntry(at entry: GuestAddress) -> BootCPUState {
        let data = Segment(descriptor: GDT.data, selector: GDT.dataSelector)
        return BootCPUState(
            rip: entry.rawValue,
            rsp: Layout.bootStack.rawValue,
            rbp: Layout.bootStack.rawValue,
            rsi: Layout.zeroPage.rawValue,
            rflags: rflagsReserved,
            // ET is hard-wired to 1 on every CPU since the 486; CD/NW clear = caches on.
            cr0: cr0ProtectionEnable | cr0ExtensionType | cr0Paging,
            cr3: Layout.pml4.rawValue,
            cr4: cr4PhysicalAddressExtension,
            efer: eferLongModeEnable | eferLongModeActive,
            cs: Segment(descriptor: GDT.code, selector: GDT.codeSelector),
            ds: data, es: data, fs: data, gs: data, ss: data,
            tr: Segment(descriptor: GDT.tss, selector: GDT.tssSelector),
            gdt: GDT.table,
            idt: GDT.interruptTable,
            fpuControlWord: 0x37f,
            mxcsr: 0x1f80,
            msrs: bootMSRs)
    }

    /// What Firecracker sets at boot: SYSCALL/SYSENTER targets cleared (the kernel programs
    /// them), TSC from 0, fast string operations on, MTRRs on with write-back default so
    /// guest RAM is cacheable.
    public static let bootMSRs: [ModelSpecificRegister] = [
        ModelSpecificRegister(index: 0x174, value: 0),         // IA32_SYSENTER_CS
        ModelSpecificRegister(index: 0x175, value: 0),         // IA32_SYSENTER_ESP
        ModelSpecificRegister(index: 0x176, value: 0),         // IA32_SYSENTER_EIP
        ModelSpecificRegister(index: 0xc000_0081, value: 0),   // STAR
        ModelSpecificRegister(index: 0xc000_0082, value: 0),   // LSTAR
        ModelSpecificRegister(index: 0xc000_0083, value: 0),   // CSTAR
        ModelSpecificRegister(index: 0xc000_0084, value: 0),   // SYSCALL_MASK
        ModelSpecificRegister(index: 0xc000_0102, value: 0),   // KERNEL_GS_BASE
        ModelSpecificRegister(index: 0x10, value: 0),          // IA32_TSC
        ModelSpecificRegister(index: 0x1a0, value: 1),         // IA32_MISC_ENABLE: fast strings
        ModelSpecificRegister(index: 0x2ff, value: 0x800 | 6), // IA32_MTRR_DEF_TYPE: enabled, WB
    ]
}
