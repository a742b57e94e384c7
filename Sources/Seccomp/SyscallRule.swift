/// One allowed system call of a role, with the argument values it is allowed with.
/// A rule without conditions allows every call of `syscall`; with conditions, a call is allowed
/// only when every condition holds (conditions are ANDed, the values of one condition ORed).
public struct SyscallRule: Sendable, Equatable {
    /// The name libseccomp resolves for the native architecture (`seccomp_syscall_resolve_name`).
    public let syscall: String
    public let conditions: [ArgumentCondition]
    /// Why the role needs it: the evidence (a strace of the role) or the error path.
    public let reason: String

    public static func allow(_ syscall: String, _ conditions: ArgumentCondition..., because reason: String) -> SyscallRule {
        SyscallRule(syscall: syscall, conditions: conditions, reason: reason)
    }

    /// The conditions multiplied out into libseccomp rules: each element is one rule's list of
    /// (argument, mask, value) comparisons, since libseccomp ORs rules but ANDs comparisons.
    var expandedComparisons: [[(index: UInt32, mask: UInt64, value: UInt64)]] {
        var rules: [[(index: UInt32, mask: UInt64, value: UInt64)]] = [[]]
        for condition in conditions {
            rules = rules.flatMap { prefix in
                condition.values.map { prefix + [(condition.index, condition.mask, $0)] }
            }
        }
        return rules
    }
}

/// `(argument[index] & mask) ∈ values`.
public struct ArgumentCondition: Sendable, Equatable {
    public let index: UInt32
    public let mask: UInt64
    public let values: [UInt64]

    /// The low 32 bits: the arguments filtered here (ioctl request, int flags, signal numbers)
    /// are `int`/`unsigned int` in the kernel, which ignores the register's upper half. Comparing
    /// all 64 bits would kill a legal call whose caller left garbage there, and ignoring them
    /// lets nothing through that the kernel would read differently.
    public static let lowWord: UInt64 = 0xFFFF_FFFF

    /// The argument equals one of `values` (in its low 32 bits).
    public static func argument(_ index: UInt32, isOneOf values: [UInt64]) -> ArgumentCondition {
        ArgumentCondition(index: index, mask: lowWord, values: values)
    }

    /// The argument, masked with `mask`, equals one of `values`: flags where only some bits matter.
    public static func argument(_ index: UInt32, masked mask: UInt64, isOneOf values: [UInt64]) -> ArgumentCondition {
        ArgumentCondition(index: index, mask: mask, values: values)
    }

    /// None of the bits in `bits` is set.
    public static func argument(_ index: UInt32, hasNone bits: UInt64) -> ArgumentCondition {
        ArgumentCondition(index: index, mask: bits, values: [0])
    }

    /// Every bit in `bits` is set.
    public static func argument(_ index: UInt32, hasAll bits: UInt64) -> ArgumentCondition {
        ArgumentCondition(index: index, mask: bits, values: [bits])
    }
}
