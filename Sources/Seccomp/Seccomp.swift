import CSeccomp
#if canImport(Glibc)
import Glibc
#endif

/// Per-thread seccomp filters built with libseccomp from the rule lists in `Filters/`.
public enum Seccomp {
    /// Confines the calling thread to `role`'s rules; anything else kills the whole process
    /// (SIGSYS). Only this thread is filtered (no TSYNC), and threads it creates later inherit the
    /// filter, so spawn threads first and call this at the start of each thread's body.
    /// Call it once per thread: no role allows `seccomp`/`prctl`, so a second call is fatal.
    public static func install(_ role: ThreadRole) throws(SeccompError) {
        guard apiLevel >= 3 else {
            throw SeccompError(operation: "libseccomp API level \(apiLevel) lacks KILL_PROCESS (kernel 4.14 or later)",
                               errno: ENOSYS)
        }
        let filter = try Filter(role)
        defer { filter.release() }
        try filter.load()
    }

    /// Writes libseccomp's pseudo-C rendering of `role`'s filter to `fileDescriptor`: the exact
    /// program `install` would load, for review and debugging.
    public static func writePseudoFilterCode(_ role: ThreadRole, to fileDescriptor: Int32) throws(SeccompError) {
        let filter = try Filter(role)
        defer { filter.release() }
        try filter.exportPFC(to: fileDescriptor)
    }

    /// libseccomp probes the kernel (nine seccomp() calls) the first time and caches the answers
    /// in unsynchronized globals. Asking here, under Swift's once-only initialization of statics,
    /// keeps vCPU threads that install at the same moment from racing on that cache.
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

/// A libseccomp context holding one role's rules; released by its owner.
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

    /// Loads the filter into the calling thread.
    func load() throws(SeccompError) {
        try check(seccomp_load(context), "seccomp_load")
    }

    func exportPFC(to fileDescriptor: Int32) throws(SeccompError) {
        try check(seccomp_export_pfc(context, fileDescriptor), "seccomp_export_pfc")
    }

    /// libseccomp returns 0 or -errno.
    private func check(_ result: Int32, _ operation: @autoclosure () -> String) throws(SeccompError) {
        if result < 0 { throw SeccompError(operation: operation(), errno: -result) }
    }
}
