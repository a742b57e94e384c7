import CSeccomp
#if canImport(Glibc)
import Glibc
#endif

/// Per-thread seccomp filters: the rule lists in `Filters/` are the source, compiled by libseccomp
/// once, ahead of time, into the BPF programs of `CompiledPrograms+Generated.swift` (regenerated
/// with `seccomp-probe generate`; `CompiledProgramTests` fails when a program there differs from
/// what libseccomp compiles from the rules now). Compiling at start-up cost each thread 0.2-0.6 ms
/// before its first useful instruction; loading a compiled program costs one system call.
public enum Seccomp {
    /// Confines the calling thread to `role`'s rules; anything else kills the whole process
    /// (SIGSYS), as does a call from another ABI. Only this thread is filtered (no TSYNC), and
    /// threads it creates later inherit the filter, so spawn threads first and call this at the
    /// start of each thread's body. Call it once per thread: no role allows `seccomp`/`prctl`,
    /// so a second call is fatal.
    public static func install(_ role: ThreadRole) throws(SeccompError) {
        if let killProcessUnavailable { throw killProcessUnavailable }
        let program = CompiledPrograms.instructions(role)
        let result = program.withUnsafeBufferPointer { kiln_seccomp_install_program($0.baseAddress, UInt16($0.count)) }
        if result < 0 {
            throw SeccompError(operation: "seccomp(SET_MODE_FILTER) with the \(role) filter", errno: -result)
        }
    }

    /// Every program ends in SECCOMP_RET_KILL_PROCESS (Linux 4.14); an older kernel would treat
    /// it as an unknown action, so a filter is never loaded there. Asked once per process.
    private static let killProcessUnavailable: SeccompError? = {
        let result = kiln_seccomp_action_available(UInt32(SECCOMP_RET_KILL_PROCESS))
        guard result < 0 else { return nil }
        return SeccompError(operation: "SECCOMP_GET_ACTION_AVAIL for KILL_PROCESS (kernel 4.14 or later)", errno: -result)
    }()

    /// The program `install` loads for `role`.
    public static func compiledProgram(_ role: ThreadRole) -> [BPFInstruction] {
        CompiledPrograms.instructions(role).map(BPFInstruction.init)
    }

    /// libseccomp's compilation of `role`'s rules now: what `compiledProgram` must equal.
    public static func compileWithLibseccomp(_ role: ThreadRole) throws(SeccompError) -> [BPFInstruction] {
        try libseccompReady()
        let filter = try Filter(role)
        defer { filter.release() }
        return try filter.exportBPF().map(BPFInstruction.init)
    }

    /// libseccomp's version, for the header of the generated programs.
    public static var libseccompVersion: String {
        guard let version = seccomp_version() else { return "unknown" }
        return "\(version.pointee.major).\(version.pointee.minor).\(version.pointee.micro)"
    }

    /// Writes libseccomp's pseudo-C rendering of `role`'s filter to `fileDescriptor`, for review
    /// and debugging.
    public static func writePseudoFilterCode(_ role: ThreadRole, to fileDescriptor: Int32) throws(SeccompError) {
        try libseccompReady()
        let filter = try Filter(role)
        defer { filter.release() }
        try filter.exportPFC(to: fileDescriptor)
    }

    private static func libseccompReady() throws(SeccompError) {
        guard apiLevel >= 3 else {
            throw SeccompError(operation: "libseccomp API level \(apiLevel) lacks KILL_PROCESS (kernel 4.14 or later)",
                               errno: ENOSYS)
        }
    }

    /// libseccomp probes the kernel (nine seccomp() calls) the first time and caches the answers
    /// in unsynchronized globals. Asking here, under Swift's once-only initialization of statics,
    /// keeps threads that compile at the same moment from racing on that cache.
    private static let apiLevel: UInt32 = seccomp_api_get()

    /// How many distinct system calls `role` allows (README table).
    public static func allowedSyscallCount(_ role: ThreadRole) -> Int {
        Set(role.rules.map(\.syscall)).count
    }

    /// The system calls `role` allows, in filter order.
    public static func allowedSyscalls(_ role: ThreadRole) -> [String] {
        role.rules.map(\.syscall)
    }

    /// The native architecture's number for `name`, or nil if libseccomp does not know it.
    public static func syscallNumber(_ name: String) -> Int32? {
        let number = seccomp_syscall_resolve_name(name)
        return number == __NR_SCMP_ERROR ? nil : number
    }
}

/// A libseccomp context holding one role's rules; released by its owner. Used ahead of time
/// (generating `CompiledPrograms`, checking it, pseudo-C), never on kiln's start-up path.
struct Filter {
    private let context: scmp_filter_ctx

    init(_ role: ThreadRole) throws(SeccompError) {
        // Kill the process, not just the thread: a half-dead VMM (a vCPU gone, the VM still up)
        // is worse than none, and SIGSYS on the process is what a supervisor can see.
        guard let context = seccomp_init(SCMP_ACT_KILL_PROCESS) else {
            throw SeccompError(operation: "seccomp_init(KILL_PROCESS)", errno: EINVAL)
        }
        self.context = context
        do throws(SeccompError) {
            try configure(role)
        } catch {
            seccomp_release(context)
            throw error
        }
    }

    func release() { seccomp_release(context) }

    private func configure(_ role: ThreadRole) throws(SeccompError) {
        // A call from another ABI (i386 int 0x80, x32) is as forbidden as an unknown one.
        try check(seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), "set bad-arch action")
        // no_new_privs lets an unprivileged process load a filter and is what the jail wants anyway.
        try check(seccomp_attr_set(context, SCMP_FLTATR_CTL_NNP, 1), "set no_new_privs")
        // This thread only: every role has its own filter.
        try check(seccomp_attr_set(context, SCMP_FLTATR_CTL_TSYNC, 0), "clear TSYNC")
        // Report the kernel's errno from seccomp_load instead of libseccomp's ECANCELED.
        try check(seccomp_attr_set(context, SCMP_FLTATR_API_SYSRAWRC, 1), "set raw return codes")

        let rules = role.rules
        for (position, rule) in rules.enumerated() {
            guard let number = Seccomp.syscallNumber(rule.syscall) else {
                throw SeccompError(operation: "resolve syscall \"\(rule.syscall)\" (\(role) filter)", errno: ENOSYS)
            }
            // List order is test order: the hot calls at the top of a list (KVM_RUN) cost the fewest
            // BPF instructions.
            let priority = UInt8(clamping: 255 - position)
            try check(seccomp_syscall_priority(context, number, priority), "set priority of \(rule.syscall)")
            for comparisons in rule.expandedComparisons {
                let arguments = comparisons.map {
                    scmp_arg_cmp(arg: $0.index, op: SCMP_CMP_MASKED_EQ, datum_a: $0.mask, datum_b: $0.value)
                }
                let result = arguments.withUnsafeBufferPointer {
                    seccomp_rule_add_array(context, SCMP_ACT_ALLOW, number, UInt32($0.count), $0.baseAddress)
                }
                try check(result, "add rule for \(rule.syscall)")
            }
        }
    }

    /// The BPF program libseccomp generates for this context: the one `seccomp_load` would load.
    func exportBPF() throws(SeccompError) -> [sock_filter] {
        guard let file = tmpfile() else { throw SeccompError(operation: "tmpfile for seccomp_export_bpf", errno: errno) }
        defer { fclose(file) }
        let descriptor = fileno(file)
        try check(seccomp_export_bpf(context, descriptor), "seccomp_export_bpf")
        let size = lseek(descriptor, 0, SEEK_END)
        let stride = MemoryLayout<sock_filter>.stride
        guard size > 0, Int(size) % stride == 0, Int(size) / stride <= Int(BPF_MAXINSNS) else {
            throw SeccompError(operation: "seccomp_export_bpf wrote \(size) bytes, not a BPF program", errno: EINVAL)
        }
        var program = [sock_filter](repeating: sock_filter(), count: Int(size) / stride)
        let read = program.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard read == Int(size) else {
            throw SeccompError(operation: "read back the exported BPF program", errno: read < 0 ? errno : EIO)
        }
        return program
    }

    func exportPFC(to fileDescriptor: Int32) throws(SeccompError) {
        try check(seccomp_export_pfc(context, fileDescriptor), "seccomp_export_pfc")
    }

    /// libseccomp returns 0 or -errno.
    private func check(_ result: Int32, _ operation: @autoclosure () -> String) throws(SeccompError) {
        if result < 0 { throw SeccompError(operation: operation(), errno: -result) }
    }
}

/// One classic-BPF instruction (`struct sock_filter`), comparable and printable.
public struct BPFInstruction: Equatable, Sendable, CustomStringConvertible {
    public let code: UInt16
    public let jumpIfTrue: UInt8
    public let jumpIfFalse: UInt8
    public let operand: UInt32

    init(_ raw: sock_filter) {
        code = raw.code
        jumpIfTrue = raw.jt
        jumpIfFalse = raw.jf
        operand = raw.k
    }

    /// As the generated source spells it.
    public var description: String {
        "sock_filter(code: 0x\(hex(code, digits: 4)), jt: \(jumpIfTrue), jf: \(jumpIfFalse), k: 0x\(hex(operand, digits: 8)))"
    }

    private func hex(_ value: some BinaryInteger, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
