import Foundation
@testable import Seccomp
import Testing

/// The rule lists as data: they resolve, they stay small, and the numbers in them are the kernel's.
/// Nothing here loads a filter, so the test process itself stays unconfined.
@Suite struct FilterRuleTests {
    @Test(arguments: ThreadRole.allCases)
    func everySyscallNameResolves(role: ThreadRole) {
        for rule in role.rules {
            #expect(Seccomp.syscallNumber(rule.syscall) != nil, "\(role): \(rule.syscall) does not resolve")
        }
    }

    @Test(arguments: ThreadRole.allCases)
    func noSyscallIsListedTwice(role: ThreadRole) {
        let names = role.rules.map(\.syscall)
        #expect(Set(names).count == names.count, "\(role) lists a syscall twice: \(names)")
    }

    @Test(arguments: ThreadRole.allCases)
    func everyRuleSaysWhy(role: ThreadRole) {
        for rule in role.rules { #expect(!rule.reason.isEmpty, "\(role): \(rule.syscall) has no reason") }
    }

    /// Pinned so that widening a filter is a deliberate change (update the README table too).
    @Test func allowedSyscallCounts() {
        #expect(Seccomp.allowedSyscallCount(.control) == 30)
        #expect(Seccomp.allowedSyscallCount(.api) == 20)
        #expect(Seccomp.allowedSyscallCount(.devices) == 43)
        #expect(Seccomp.allowedSyscallCount(.vcpu) == 16)
        #expect(ThreadRole.vmm == .control)
    }

    /// Calls that would turn a compromised thread into a foothold on the host.
    @Test(arguments: ThreadRole.allCases)
    func noRoleAllowsEscapeHatches(role: ThreadRole) {
        let forbidden: Set = [
            "execve", "execveat", "fork", "vfork", "clone", "clone3", "ptrace", "process_vm_readv",
            "process_vm_writev", "socket", "socketpair", "connect", "bind", "open", "openat", "openat2",
            "creat", "seccomp", "prctl", "bpf", "mount", "umount2", "pivot_root", "chroot", "setns",
            "unshare", "kill", "tkill", "kexec_load", "init_module", "finit_module", "mremap",
            "io_uring_setup", "userfaultfd", "perf_event_open", "keyctl", "add_key", "personality",
        ]
        // The device thread is vsock's host side (Firecracker's model): it opens Unix stream
        // sockets and connects them; `devicesSocketsAreUnixStreamsOnly` pins how narrowly.
        let vsockBackend: Set = role == .devices ? ["socket", "connect"] : []
        // The device thread is virtio-fs's file server: `devicesOpenOnlyBeneathShares` pins how.
        let fileServer: Set = role == .devices ? ["openat2"] : []
        // The VMM thread opens a drive's new backing file for PATCH /drives (as Firecracker's
        // does); `controlOpensExistingFilesOnly` pins how narrowly.
        let drivePatch: Set = role == .control ? ["openat"] : []
        let allowed = Set(role.rules.map(\.syscall)).subtracting(vsockBackend).subtracting(drivePatch).subtracting(fileServer)
        #expect(allowed.isDisjoint(with: forbidden), "\(role) allows \(allowed.intersection(forbidden))")
    }

    /// The device thread of a jailed VMM with shares holds CAP_DAC_READ_SEARCH (VMM's
    /// ThreadCapabilities). With it open_by_handle_at opens any inode of any filesystem the jail
    /// reaches, bypassing the chroot and the bind mount ("shocker"), and linkat(AT_EMPTY_PATH)
    /// gives an open file a new name: no role may allow them (the filters are allowlists, their
    /// default action a trap), nor capset, which would let a filtered thread change what it holds.
    @Test(arguments: ThreadRole.allCases)
    func noRoleOpensByHandleOrChangesCapabilities(role: ThreadRole) {
        let names = Set(role.rules.map(\.syscall))
        let forbidden: Set = ["open_by_handle_at", "name_to_handle_at", "linkat", "link", "capset", "capget", "prctl"]
        #expect(names.isDisjoint(with: forbidden), "\(role) allows \(names.intersection(forbidden))")
    }

    /// virtio-fs opens only through openat2 (whose resolve flags confine it beneath the shared
    /// directory); open/openat, where O_CREAT would be an argument, stay forbidden, and fstat
    /// is newfstatat on a descriptor (AT_EMPTY_PATH), never a path lookup that follows links.
    @Test func devicesOpenOnlyBeneathShares() throws {
        let names = Set(ThreadRole.devices.rules.map(\.syscall))
        #expect(names.isDisjoint(with: ["open", "openat", "creat", "mkdirat", "unlinkat", "renameat2", "linkat",
                                        "symlinkat", "fchmodat", "fchownat", "pwrite64", "ftruncate", "setxattr",
                                        "fsetxattr", "name_to_handle_at", "open_by_handle_at"]))
        let stat = try #require(ThreadRole.devices.rules.first { $0.syscall == "newfstatat" })
        #expect(stat.conditions == [.argument(3, isOneOf: [0x1000])])
        #expect(ThreadRole.devices.rules.contains { $0.syscall == "openat2" && $0.conditions.isEmpty })
    }

    @Test func controlOpensExistingFilesOrWritesNewOnes() throws {
        let open = try #require(ThreadRole.control.rules.first { $0.syscall == "openat" })
        // O_CREAT | O_TRUNC | O_PATH | __O_TMPFILE | O_CLOEXEC | O_ACCMODE compared: an existing
        // file read-only or read-write (PATCH /drives), or a new file write-only, created or
        // truncated (PUT /snapshot/create); always close-on-exec, never O_PATH or O_TMPFILE.
        let checkedFlags: UInt64 = 0o100 | 0o1000 | 0o10000000 | 0o20000000 | 0o2000000 | 0o3
        let expected: [ArgumentCondition] = [.argument(2, masked: checkedFlags,
                                                        isOneOf: [0o2000000, 0o2000002, 0o2001101])]
        #expect(open.conditions == expected)
        #expect(!ThreadRole.control.rules.contains { ["open", "openat2", "creat", "unlinkat", "renameat2"].contains($0.syscall) })
    }

    /// The block engine's fast path: preadv2/pwritev2 only with RWF_NOWAIT (argument 5), so the
    /// device thread cannot ask for RWF_HIPRI polling or RWF_APPEND through them.
    @Test func devicesVectoredIOWithFlagsIsNonBlockingOnly() throws {
        for name in ["preadv2", "pwritev2"] {
            let rule = try #require(ThreadRole.devices.rules.first { $0.syscall == name })
            #expect(rule.conditions == [.argument(5, isOneOf: [8])])
        }
    }

    @Test func devicesSocketsAreUnixStreamsOnly() throws {
        let socket = try #require(ThreadRole.devices.rules.first { $0.syscall == "socket" })
        // AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol 0: no network socket.
        #expect(socket.conditions == [.argument(0, isOneOf: [1]), .argument(1, isOneOf: [0x80801]),
                                      .argument(2, isOneOf: [0])])
        let accept = try #require(ThreadRole.devices.rules.first { $0.syscall == "accept4" })
        #expect(accept.conditions == [.argument(3, isOneOf: [0x80800])])
        let send = try #require(ThreadRole.devices.rules.first { $0.syscall == "sendmsg" })
        #expect(send.conditions == [.argument(2, isOneOf: [0x4040])])
        #expect(!ThreadRole.devices.rules.contains { ["bind", "listen", "socketpair", "sendto"].contains($0.syscall) })
    }

    @Test func onlyVcpuThreadsIssueIoctlsAndOnlyTheirFive() throws {
        // The VMM thread only reads a paused VM's state for a snapshot: GET ioctls, nothing
        // that changes KVM state and no KVM_RUN.
        let control = try #require(ThreadRole.control.rules.first { $0.syscall == "ioctl" })
        #expect(control.conditions == [.argument(1, isOneOf: KVMRequest.snapshotReads)])
        #expect(KVMRequest.snapshotReads.allSatisfy { $0 >> 30 == 2 || $0 >> 30 == 3 || $0 == 0xAEA3 || $0 == 0x4010_AE42 })
        #expect(!KVMRequest.snapshotReads.contains(KVMRequest.run))
        #expect(!ThreadRole.devices.rules.contains { $0.syscall == "ioctl" })
        let ioctl = try #require(ThreadRole.vcpu.rules.first { $0.syscall == "ioctl" })
        #expect(ioctl.conditions == [.argument(1, isOneOf: [0xAE80, 0x8090_AE81, 0x8004_AE98, 0x8138_AE83, 0x4004_54D0])])
        // KVM_RUN is the hot call: first rule, first test in the BPF program.
        #expect(ThreadRole.vcpu.rules.first?.syscall == "ioctl")
    }

    @Test func kvmRequestNumbersMatchTheirEncodings() {
        #expect(KVMRequest.run == 0xAE80)
        #expect(KVMRequest.getRegisters == 0x8090_AE81)
        #expect(KVMRequest.getMPState == 0x8004_AE98)
        #expect(KVMRequest.getSpecialRegisters == 0x8138_AE83)
        #expect(KVMRequest.createVM == 0xAE01)
        #expect(TunRequest.setOffload == 0x4004_54D0)
        #expect(IoctlRequest.iow(0xAE, 0x46, size: 32) == 0x4020_AE46) // KVM_SET_USER_MEMORY_REGION
        #expect(IoctlRequest.iowr(0xAE, 0x05, size: 8) == 0xC008_AE05) // KVM_GET_SUPPORTED_CPUID
    }

    /// Compiles a C program against the installed <linux/kvm.h> and compares its macros with ours.
    @Test func kvmRequestNumbersMatchTheKernelHeaders() throws {
        let source = """
            #include <linux/kvm.h>
            #include <linux/if_tun.h>
            #include <stdio.h>
            int main(void) {
                printf("%lx %lx %lx %lx %lx %lx\\n", (unsigned long)KVM_RUN, (unsigned long)KVM_GET_REGS,
                       (unsigned long)KVM_GET_MP_STATE, (unsigned long)KVM_GET_SREGS, (unsigned long)KVM_CREATE_VM,
                       (unsigned long)TUNSETOFFLOAD);
                return 0;
            }
            """
        let directory = NSTemporaryDirectory() + "kiln-seccomp-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try source.write(toFile: directory + "/kvm.c", atomically: true, encoding: .utf8)
        let compile = try ProbeProcess.execute("/usr/bin/cc", ["-o", directory + "/kvm", directory + "/kvm.c"])
        try #require(compile.status == 0, "cc failed: \(compile.stderr)")
        let run = try ProbeProcess.execute(directory + "/kvm", [])
        let expected = [KVMRequest.run, KVMRequest.getRegisters, KVMRequest.getMPState, KVMRequest.getSpecialRegisters,
                        KVMRequest.createVM, TunRequest.setOffload]
            .map { String($0, radix: 16) }.joined(separator: " ")
        #expect(run.stdout == expected + "\n")
    }

    /// The snapshot GET ioctls of the VMM thread's filter, against <linux/kvm.h>.
    @Test func snapshotReadNumbersMatchTheKernelHeaders() throws {
        let names = ["KVM_GET_REGS", "KVM_GET_SREGS", "KVM_GET_MP_STATE", "KVM_GET_FPU", "KVM_GET_XSAVE", "KVM_GET_XSAVE2",
                     "KVM_GET_XCRS", "KVM_GET_DEBUGREGS", "KVM_GET_VCPU_EVENTS", "KVM_GET_LAPIC", "KVM_GET_MSRS",
                     "KVM_GET_CPUID2", "KVM_GET_TSC_KHZ", "KVM_GET_IRQCHIP", "KVM_GET_PIT2", "KVM_GET_CLOCK", "KVM_GET_DIRTY_LOG"]
        let source = "#include <linux/kvm.h>\n#include <stdio.h>\nint main(void) {\n"
            + names.map { "    printf(\"%lx\\n\", (unsigned long)\($0));\n" }.joined() + "    return 0;\n}\n"
        let directory = NSTemporaryDirectory() + "kiln-seccomp-snap-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try source.write(toFile: directory + "/kvm.c", atomically: true, encoding: .utf8)
        let compile = try ProbeProcess.execute("/usr/bin/cc", ["-o", directory + "/kvm", directory + "/kvm.c"])
        try #require(compile.status == 0, "cc failed: \(compile.stderr)")
        let run = try ProbeProcess.execute(directory + "/kvm", [])
        #expect(run.stdout == KVMRequest.snapshotReads.map { String($0, radix: 16) + "\n" }.joined())
    }

    @Test func memoryRulesNeverAllowExecutableOrFileMappings() throws {
        for role in ThreadRole.allCases {
            let mmap = try #require(role.rules.first { $0.syscall == "mmap" })
            #expect(mmap.conditions.contains(.argument(2, hasNone: UInt64(PROT_EXEC))))
            #expect(mmap.conditions.contains(.argument(3, hasAll: UInt64(MAP_ANONYMOUS))))
            let mprotect = try #require(role.rules.first { $0.syscall == "mprotect" })
            #expect(mprotect.conditions == [.argument(2, hasNone: UInt64(PROT_EXEC))])
        }
    }

    @Test func signalsAreLimitedToTheKick() {
        for role in ThreadRole.allCases {
            for rule in role.rules where rule.syscall == "tgkill" {
                #expect(rule.conditions == [.argument(2, isOneOf: [UInt64(SIGUSR1)])])
            }
        }
    }

    @Test func conditionsMultiplyOutIntoLibseccompRules() {
        let rule = SyscallRule.allow("mmap", .argument(2, isOneOf: [1, 2]), .argument(3, masked: 0xF0, isOneOf: [0x10, 0x20, 0x30]),
                                     because: "test")
        let expanded = rule.expandedComparisons
        #expect(expanded.count == 6)
        #expect(expanded.allSatisfy { $0.count == 2 && $0[0].index == 2 && $0[1].index == 3 && $0[1].mask == 0xF0 })
        #expect(SyscallRule.allow("write", because: "test").expandedComparisons.map(\.count) == [0])
    }

    /// Builds each filter (without loading it) and reads back what libseccomp would load.
    @Test(arguments: ThreadRole.allCases)
    func filterBuildsAndDefaultsToKillProcess(role: ThreadRole) throws {
        let pipe = Pipe()
        try Seccomp.writePseudoFilterCode(role, to: pipe.fileHandleForWriting.fileDescriptor)
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("# default action\n  action KILL_PROCESS;"))
        #expect(text.contains("# invalid architecture action\naction KILL_PROCESS;"))
        for name in Seccomp.allowedSyscalls(role) { #expect(text.contains("filter for syscall \"\(name)\"")) }
    }

    @Test func errorsNameTheOperationAndErrno() {
        let error = SeccompError(operation: "seccomp_load", errno: EACCES)
        #expect(error.description == "seccomp: seccomp_load failed: Permission denied (errno 13)")
    }
}
