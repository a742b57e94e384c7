/// A failed KVM operation: which ioctl or system call, and the errno it returned.
public enum KVMError: Error, Equatable, Sendable, CustomStringConvertible {
    case systemCall(operation: String, errno: Int32)
    case unsupportedAPIVersion(Int32)
    case missingCapability(String)
    case allocationFailed(String)
    /// A restored vCPU would run its TSC at another rate than it was saved with, and this host
    /// cannot scale it (no KVM_CAP_TSC_CONTROL): the guest's clocks would drift.
    case tscFrequencyMismatch(savedKHz: UInt32, hostKHz: UInt32)
    /// Saved state this KVM cannot take back (e.g. an XSAVE area larger than the VM allows).
    case incompatibleState(String)

    public var description: String {
        switch self {
        case let .systemCall(operation, errno):
            "\(operation) failed: \(errnoName(errno)) (errno \(errno))"
        case let .unsupportedAPIVersion(version):
            "/dev/kvm reports API version \(version), Kiln needs 12"
        case let .missingCapability(name):
            "/dev/kvm lacks the required capability \(name)"
        case let .allocationFailed(what):
            "could not allocate \(what)"
        case let .tscFrequencyMismatch(saved, host):
            "saved TSC frequency \(saved) kHz differs from this host's \(host) kHz, which KVM cannot scale"
        case let .incompatibleState(why):
            "saved vCPU state does not fit this KVM: \(why)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// `strerror` text for an errno, e.g. "No such file or directory".
public func errnoName(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}
