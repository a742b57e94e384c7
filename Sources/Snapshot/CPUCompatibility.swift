import CKiln

/// Whether a snapshot's guest can run on this host. A guest kernel probed its CPU once, at
/// boot, and uses what it found without asking again: restoring it where a feature it uses is
/// missing would fault later at some random instruction. So the policy is checked before
/// any VM state is created:
/// - the CPU vendor must match (Intel and AMD differ in MSRs, SYSCALL semantics, errata), and
/// - with `requireFeatureSubset`, every feature bit the guest saw in the leaves that list
///   instruction-set features must be offered by this host's KVM_GET_SUPPORTED_CPUID.
public struct CPUCompatibilityPolicy: Sendable, Equatable {
    public var requireSameVendor: Bool
    public var requireFeatureSubset: Bool

    public init(requireSameVendor: Bool = true, requireFeatureSubset: Bool = true) {
        self.requireSameVendor = requireSameVendor
        self.requireFeatureSubset = requireFeatureSubset
    }

    public static let strict = CPUCompatibilityPolicy()

    /// Feature registers compared: (function, index, register, bits that KVM or Kiln change at
    /// run time or set on its own and are therefore not host features: OSXSAVE, TSC-deadline,
    /// hypervisor in leaf 1 ECX; APIC and HTT in leaf 1 EDX; OSPKE in leaf 7 ECX).
    static let featureRegisters: [(function: UInt32, index: UInt32, register: Register, ignored: UInt32)] = [
        (0x1, 0, .ecx, 1 << 27 | 1 << 24 | 1 << 31),
        (0x1, 0, .edx, 1 << 9 | 1 << 28),
        (0x7, 0, .ebx, 0),
        (0x7, 0, .ecx, 1 << 4),
        (0x7, 0, .edx, 0),
        (0x8000_0001, 0, .ecx, 0),
        (0x8000_0001, 0, .edx, 0),
    ]

    enum Register: String { case eax, ebx, ecx, edx }

    /// Throws the first incompatibility between the guest's CPUID (as saved) and `host`: what
    /// a vCPU of this host can use, `Kvm.guestVisibleCPUID()` (KVM_GET_SUPPORTED_CPUID alone
    /// understates it on software KVMs such as this machine's PVM).
    public func check(saved: [kvm_cpuid_entry2], host: [kvm_cpuid_entry2]) throws(SnapshotError) {
        if requireSameVendor {
            let savedVendor = Self.vendor(saved), hostVendor = Self.vendor(host)
            guard savedVendor == hostVendor else { throw .cpuVendorMismatch(saved: savedVendor, host: hostVendor) }
        }
        guard requireFeatureSubset else { return }
        for (function, index, register, ignored) in Self.featureRegisters {
            guard let guest = Self.entry(saved, function, index) else { continue }
            let offered = Self.entry(host, function, index).map { Self.value($0, register) } ?? 0
            let missing = Self.value(guest, register) & ~offered & ~ignored
            guard missing == 0 else {
                throw .cpuidMismatch(function: function, index: index, register: register.rawValue, missingBits: missing)
            }
        }
    }

    /// The 12-character vendor string of leaf 0 (EBX, EDX, ECX), "unknown" without it.
    public static func vendor(_ entries: [kvm_cpuid_entry2]) -> String {
        guard let leaf = entry(entries, 0, 0) else { return "unknown" }
        var bytes: [UInt8] = []
        for word in [leaf.ebx, leaf.edx, leaf.ecx] { withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) } }
        return String(decoding: bytes.map { $0 >= 0x20 && $0 < 0x7f ? $0 : 0x3f }, as: UTF8.self)
    }

    static func entry(_ entries: [kvm_cpuid_entry2], _ function: UInt32, _ index: UInt32) -> kvm_cpuid_entry2? {
        // Index matters only for leaves flagged KVM_CPUID_FLAG_SIGNIFCANT_INDEX.
        entries.first { $0.function == function && ($0.flags & 1 == 0 || $0.index == index) }
    }

    static func value(_ entry: kvm_cpuid_entry2, _ register: Register) -> UInt32 {
        switch register {
        case .eax: entry.eax
        case .ebx: entry.ebx
        case .ecx: entry.ecx
        case .edx: entry.edx
        }
    }
}
