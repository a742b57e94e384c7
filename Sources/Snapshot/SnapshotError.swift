import KVM

/// Why a snapshot could not be written, read or applied. A file is refused with one of these
/// before any of its content is used; nothing in a hostile file can make the reader trap.
public enum SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file ends before `what` (needing `needed` more bytes than the `available` ones).
    case truncated(what: String, needed: UInt64, available: UInt64)
    case badMagic
    case unsupportedVersion(found: UInt32, supported: UInt32)
    /// The header's total length disagrees with the file's.
    case lengthMismatch(declared: UInt64, actual: UInt64)
    case checksumMismatch(stored: UInt64, computed: UInt64)
    /// A structural error inside a checksummed file (bad table, count over its limit...).
    case malformed(String)
    case missingSection(String)
    case tooLarge(what: String, size: UInt64, limit: UInt64)
    case cpuVendorMismatch(saved: String, host: String)
    /// The snapshot's guest uses CPUID feature bits this host's KVM does not offer.
    case cpuidMismatch(function: UInt32, index: UInt32, register: String, missingBits: UInt32)
    case memoryFileTooSmall(path: String, size: UInt64, needed: UInt64)
    case file(operation: String, path: String, errno: Int32)
    case kvm(KVMError)

    public var description: String {
        switch self {
        case let .truncated(what, needed, available):
            "snapshot truncated: \(what) needs \(needed) bytes, \(available) left"
        case .badMagic: "not a kiln snapshot state file (bad magic)"
        case let .unsupportedVersion(found, supported):
            "snapshot format version \(found) is not supported (this kiln reads version \(supported))"
        case let .lengthMismatch(declared, actual):
            "snapshot length \(actual) differs from the \(declared) bytes its header declares"
        case let .checksumMismatch(stored, computed):
            "snapshot checksum mismatch: stored 0x\(String(stored, radix: 16)), computed 0x\(String(computed, radix: 16))"
        case let .malformed(why): "malformed snapshot: \(why)"
        case let .missingSection(name): "snapshot has no section \(name)"
        case let .tooLarge(what, size, limit): "\(what) of \(size) exceeds the limit of \(limit)"
        case let .cpuVendorMismatch(saved, host):
            "snapshot taken on a \(saved) CPU cannot be restored on this \(host) host"
        case let .cpuidMismatch(function, index, register, bits):
            "snapshot guest needs CPUID 0x\(String(function, radix: 16)).\(index) \(register) bits 0x\(String(bits, radix: 16)) this host lacks"
        case let .memoryFileTooSmall(path, size, needed):
            "memory file \(path) has \(size) bytes, the snapshot's guest memory needs \(needed)"
        case let .file(operation, path, code):
            "\(operation) \(path) failed: \(errnoName(code)) (errno \(code))"
        case let .kvm(error): error.description
        }
    }
}
