import KVM
import GuestMemory
import Snapshot

/// Why building or running a VM failed; each case renders as one line naming the problem.
public enum VMMError: Error, CustomStringConvertible {
    case invalidConfiguration(String)
    case file(operation: String, path: String, errno: Int32)
    case kvm(KVMError)
    case memory(GuestMemoryError)
    case boot(String)
    case thread(operation: String, errno: Int32)
    /// The request does not fit the VM's current state (pausing a stopped VM, ...).
    case invalidState(String)
    /// Saved device state does not fit this machine (a snapshot load refuses it).
    case deviceSnapshot(DeviceSnapshotError)
    /// A snapshot's state or memory file could not be written, read or used.
    case snapshot(SnapshotError)

    public var description: String {
        switch self {
        case let .invalidConfiguration(why): why
        case let .file(operation, path, errno): "\(operation) \(path): \(errnoName(errno))"
        case let .kvm(error): error.description
        case let .memory(error): error.description
        case let .boot(why): why
        case let .thread(operation, errno): "\(operation) failed: \(errnoName(errno))"
        case let .invalidState(why): why
        case let .deviceSnapshot(error): "snapshot devices: \(error)"
        case let .snapshot(error): error.description
        }
    }
}
