#if canImport(Glibc)
import Glibc
#endif

/// Kernel ABI values the filters compare arguments against. Glibc's module map exports the
/// mmap and signal constants; the futex ones live in <linux/futex.h>, which it does not, so they
/// are written out (uapi values, fixed by the kernel ABI).
enum LinuxABI {
    static let protExec = UInt64(PROT_EXEC)
    static let mapAnonymous = UInt64(MAP_ANONYMOUS)
    /// The signal that kicks a vCPU out of KVM_RUN (VMM's `VcpuKickSignal`).
    static let vcpuKickSignal = UInt64(SIGUSR1)

    /// `FUTEX_CMD_MASK` = ~(FUTEX_PRIVATE_FLAG 128 | FUTEX_CLOCK_REALTIME 256), low 32 bits:
    /// the kernel strips exactly these two flags to find the command, so the filter does too.
    static let futexCommandMask: UInt64 = 0xFFFF_FE7F
    static let futexWait: UInt64 = 0
    static let futexWake: UInt64 = 1
    static let futexLockPI: UInt64 = 6
    static let futexUnlockPI: UInt64 = 7
    static let futexTrylockPI: UInt64 = 8
    static let futexWaitBitset: UInt64 = 9
    static let futexWakeBitset: UInt64 = 10

    /// The vsock backend's host sockets: Unix streams, non-blocking, close-on-exec.
    static let afUnix: UInt64 = 1
    static let sockStream: UInt64 = 1
    static let sockNonblock: UInt64 = 0o4000
    static let sockCloexec: UInt64 = 0o2000000
    static let msgDontwait: UInt64 = 0x40
    static let msgNosignal: UInt64 = 0x4000
    static let shutWrite: UInt64 = 1

    /// preadv2/pwritev2 flags (linux/fs.h): the block engine's fast path asks for exactly this.
    static let rwfNowait: UInt64 = 0x8

    /// open(2) flags (asm-generic/fcntl.h, x86_64) the control thread's `openat` is checked for.
    static let oWronly: UInt64 = 0o1
    static let oRdwr: UInt64 = 0o2
    static let oAccessMode: UInt64 = 0o3
    static let oCreat: UInt64 = 0o100
    static let oTrunc: UInt64 = 0o1000
    static let oPath: UInt64 = 0o10000000
    /// `__O_TMPFILE`, the bit O_TMPFILE adds to O_DIRECTORY.
    static let oTmpfile: UInt64 = 0o20000000
    static let oCloexec: UInt64 = 0o2000000
    static let atEmptyPath: UInt64 = 0x1000
}
