/// ioctl request numbers, encoded the way <asm-generic/ioctl.h> does on x86_64:
/// `direction << 30 | size << 16 | type << 8 | number`, direction 0 none, 1 write, 2 read.
/// Swift cannot import the `_IO*` macros, so the encoding is spelled out here and the unit tests
/// check every number against a C program compiled with the kernel headers.
public enum IoctlRequest {
    static func encode(direction: UInt64, type: UInt64, number: UInt64, size: UInt64) -> UInt64 {
        direction << 30 | size << 16 | type << 8 | number
    }
    /// `_IO(type, nr)`: no argument data.
    public static func io(_ type: UInt64, _ number: UInt64) -> UInt64 {
        encode(direction: 0, type: type, number: number, size: 0)
    }
    /// `_IOR(type, nr, T)`: the kernel writes `size` bytes back to the caller.
    public static func ior(_ type: UInt64, _ number: UInt64, size: UInt64) -> UInt64 {
        encode(direction: 2, type: type, number: number, size: size)
    }
    /// `_IOW(type, nr, T)`: the kernel reads `size` bytes from the caller.
    public static func iow(_ type: UInt64, _ number: UInt64, size: UInt64) -> UInt64 {
        encode(direction: 1, type: type, number: number, size: size)
    }
    /// `_IOWR(type, nr, T)`.
    public static func iowr(_ type: UInt64, _ number: UInt64, size: UInt64) -> UInt64 {
        encode(direction: 3, type: type, number: number, size: size)
    }
}

/// The KVM ioctls that appear in filters (<linux/kvm.h>, `KVMIO` = 0xAE).
public enum KVMRequest {
    static let kvmio: UInt64 = 0xAE

    /// `KVM_RUN = _IO(KVMIO, 0x80)` = 0xAE80: enter the guest (vCPU).
    public static let run = IoctlRequest.io(kvmio, 0x80)
    /// `KVM_GET_REGS = _IOR(KVMIO, 0x81, struct kvm_regs)`, 18 × u64 = 144 bytes → 0x8090AE81:
    /// the halt probe reads RFLAGS.IF (vCPU).
    public static let getRegisters = IoctlRequest.ior(kvmio, 0x81, size: 144)
    /// `KVM_GET_MP_STATE = _IOR(KVMIO, 0x98, struct kvm_mp_state)`, one u32 → 0x8004AE98:
    /// the halt probe asks whether the vCPU is halted (vCPU).
    public static let getMPState = IoctlRequest.ior(kvmio, 0x98, size: 4)
    /// `KVM_GET_SREGS = _IOR(KVMIO, 0x83, struct kvm_sregs)`, 312 bytes → 0x8138AE83: a vCPU
    /// that shut down (triple fault) reports its control registers and descriptor tables (vCPU).
    public static let getSpecialRegisters = IoctlRequest.ior(kvmio, 0x83, size: 312)
    /// The GET ioctls a snapshot reads a paused VM with, from the VMM thread (vCPU and VM
    /// descriptors); each only copies state out. Numbers from <linux/kvm.h> on x86_64.
    public static let snapshotReads: [UInt64] = [
        getRegisters, getSpecialRegisters, getMPState,
        IoctlRequest.ior(kvmio, 0x8c, size: 416),    // KVM_GET_FPU          0x81A0AE8C
        IoctlRequest.ior(kvmio, 0xa4, size: 4096),   // KVM_GET_XSAVE        0x9000AEA4
        IoctlRequest.ior(kvmio, 0xcf, size: 4096),   // KVM_GET_XSAVE2       0x9000AECF
        IoctlRequest.ior(kvmio, 0xa6, size: 392),    // KVM_GET_XCRS         0x8188AEA6
        IoctlRequest.ior(kvmio, 0xa1, size: 128),    // KVM_GET_DEBUGREGS    0x8080AEA1
        IoctlRequest.ior(kvmio, 0x9f, size: 64),     // KVM_GET_VCPU_EVENTS  0x8040AE9F
        IoctlRequest.ior(kvmio, 0x8e, size: 1024),   // KVM_GET_LAPIC        0x8400AE8E
        IoctlRequest.iowr(kvmio, 0x88, size: 8),     // KVM_GET_MSRS         0xC008AE88
        IoctlRequest.iowr(kvmio, 0x91, size: 8),     // KVM_GET_CPUID2       0xC008AE91
        IoctlRequest.io(kvmio, 0xa3),                // KVM_GET_TSC_KHZ      0xAEA3
        IoctlRequest.iowr(kvmio, 0x62, size: 520),   // KVM_GET_IRQCHIP      0xC208AE62
        IoctlRequest.ior(kvmio, 0x9f, size: 112),    // KVM_GET_PIT2         0x8070AE9F
        IoctlRequest.ior(kvmio, 0x7c, size: 48),     // KVM_GET_CLOCK        0x8030AE7C
        IoctlRequest.iow(kvmio, 0x42, size: 16),     // KVM_GET_DIRTY_LOG    0x4010AE42
    ]
    /// `KVM_CREATE_VM = _IO(KVMIO, 0x01)` = 0xAE01. In no filter: the probe uses it as the
    /// forbidden KVM ioctl.
    public static let createVM = IoctlRequest.io(kvmio, 0x01)
}

/// The TUN/TAP ioctls that appear in filters (<linux/if_tun.h>, type 'T' = 0x54).
public enum TunRequest {
    static let tunType: UInt64 = 0x54

    /// `TUNSETOFFLOAD = _IOW('T', 208, unsigned int)` = 0x400454D0: virtio-net sets the guest's
    /// receive offloads on its TAP when the guest sets DRIVER_OK, an MMIO write that runs on a
    /// vCPU thread (vCPU).
    public static let setOffload = IoctlRequest.iow(tunType, 208, size: 4)
}
