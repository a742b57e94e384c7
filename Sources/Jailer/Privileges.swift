import CCap
import CJailer
#if canImport(Glibc)
import Glibc
#endif

/// The last steps before exec: resource limits, inherited descriptors, identity, capabilities.
enum Privileges {
    /// Firecracker's default when no `--resource-limit no-file` is given.
    static let defaultOpenFiles: UInt64 = 2048

    /// Soft and hard limit both set to the value. Without CAP_SYS_RESOURCE a limit can only be
    /// lowered, so a value above the current hard limit fails, naming that limit.
    static func setResourceLimits(_ limits: [ResourceLimit]) throws(JailerError) {
        var limits = limits
        if !limits.contains(where: { $0.resource == .noFile }) {
            var current = rlimit()
            getrlimit(RLIMIT_NOFILE_VALUE, &current)
            limits.append(ResourceLimit(resource: .noFile, value: min(defaultOpenFiles, UInt64(current.rlim_max))))
        }
        for limit in limits {
            let resource = limit.resource == .fsize ? RLIMIT_FSIZE_VALUE : RLIMIT_NOFILE_VALUE
            var current = rlimit()
            getrlimit(resource, &current)
            var value = rlimit(rlim_cur: rlim_t(limit.value), rlim_max: rlim_t(limit.value))
            guard setrlimit(resource, &value) == 0 else {
                throw .system("resource limits", "setrlimit \(limit.resource.rawValue)=\(limit.value) (current hard limit \(current.rlim_max == rlim_t.max ? "unlimited" : String(current.rlim_max)); raising it needs CAP_SYS_RESOURCE)")
            }
        }
    }

    /// Closes every descriptor from 3 up except `keep` (the jailer's own close-on-exec ones).
    static func closeInheritedDescriptors(keeping keep: [Int32]) throws(JailerError) {
        var first: UInt32 = 3
        for fd in Set(keep.filter { $0 >= 3 }).sorted() {
            if UInt32(fd) > first {
                try check("close descriptors", "close_range(\(first), \(fd - 1))") { jailer_close_range(first, UInt32(fd) - 1) }
            }
            first = UInt32(fd) + 1
        }
        try check("close descriptors", "close_range(\(first), ~0)") { jailer_close_range(first, UInt32.max) }
    }

    /// setgroups/setgid/setuid, then every capability set emptied (but for CAP_DAC_READ_SEARCH
    /// with `keepDacReadSearch`) and no_new_privs set.
    static func drop(uid: UInt32, gid: UInt32, keepDacReadSearch: Bool = false) throws(JailerError) {
        // Keep the permitted set across setuid so CAP_SETPCAP can still empty the bounding set.
        try check("keep capabilities", "prctl(PR_SET_KEEPCAPS, 1)") { jailer_prctl(JAILER_PR_SET_KEEPCAPS, 1) }
        try check("setgroups", "setgroups(0)") { jailer_setgroups_none() }
        try check("setgid", "setgid(\(gid))") { setgid(gid) }
        try check("setuid", "setuid(\(uid))") { setuid(uid) }
        try dropCapabilities(keeping: keepDacReadSearch ? cap_value_t(CAP_DAC_READ_SEARCH) : nil)
        try check("no_new_privs", "prctl(PR_SET_NO_NEW_PRIVS, 1)") { jailer_prctl(JAILER_PR_SET_NO_NEW_PRIVS, 1) }
    }

    /// Empties every set, or leaves `kept` alone in the bounding set and in the permitted,
    /// effective, inheritable and ambient sets: the ambient set is what carries a capability
    /// across exec into a program without file capabilities run by a uid other than 0.
    static func dropCapabilities(keeping kept: cap_value_t? = nil) throws(JailerError) {
        let step = "drop capabilities"
        guard let caps = cap_get_proc() else { throw .system(step, "cap_get_proc") }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        var setpcap = cap_value_t(CAP_SETPCAP)
        try check(step, "raise CAP_SETPCAP") { cap_set_flag(caps, CAP_EFFECTIVE, 1, &setpcap, CAP_SET) }
        try check(step, "cap_set_proc (CAP_SETPCAP effective)") { cap_set_proc(caps) }
        for capability in 0..<cap_value_t(cap_max_bits()) where capability != kept {
            try check(step, "drop capability \(capability) from the bounding set") { cap_drop_bound(capability) }
        }
        try check(step, "clear the ambient set") { cap_reset_ambient() }
        try check(step, "cap_clear") { cap_clear(caps) }
        if var kept {
            for set in [CAP_PERMITTED, CAP_EFFECTIVE, CAP_INHERITABLE] {
                try check(step, "keep capability \(kept)") { cap_set_flag(caps, set, 1, &kept, CAP_SET) }
            }
        }
        try check(step, "clear the effective, permitted and inheritable sets") { cap_set_proc(caps) }
        if let kept { try check(step, "raise capability \(kept) in the ambient set") { cap_set_ambient(kept, CAP_SET) } }
        try check(step, "prctl(PR_SET_KEEPCAPS, 0)") { jailer_prctl(JAILER_PR_SET_KEEPCAPS, 0) }
    }
}

// Glibc imports the rlimit resources as an enum on some versions and as Int32 on others.
let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
let RLIMIT_FSIZE_VALUE = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
