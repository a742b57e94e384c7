/// Why KVM_RUN returned. Payloads borrow the vCPU's `kvm_run` mapping: they are valid only
/// until the next `run()` and are never copied, so decoding an exit allocates nothing.
public enum VcpuExit {
    /// `in` from `port`: fill `data` (size × count bytes for string I/O).
    case ioIn(port: UInt16, size: Int, data: UnsafeMutableRawBufferPointer)
    /// `out` to `port`: `data` holds size × count bytes.
    case ioOut(port: UInt16, size: Int, data: UnsafeRawBufferPointer)
    case mmioRead(address: UInt64, data: UnsafeMutableRawBufferPointer)
    case mmioWrite(address: UInt64, data: UnsafeRawBufferPointer)
    case halt
    /// Triple fault or similar: the guest's CPU has reset itself.
    case shutdown
    /// KVM_EXIT_SYSTEM_EVENT: a PSCI-style shutdown/reset/crash request.
    case systemEvent(type: UInt32)
    case failEntry(hardwareReason: UInt64, cpu: UInt32)
    case internalError(suberror: UInt32)
    /// KVM_RUN was interrupted by a signal (or immediate_exit was set): not a guest event.
    case interrupted
    /// Any other exit reason, passed through for reporting.
    case unhandled(reason: UInt32)
}

extension VcpuExit {
    /// Name of the KVM exit reason, for messages.
    public var reasonName: String {
        switch self {
        case .ioIn, .ioOut: "KVM_EXIT_IO"
        case .mmioRead, .mmioWrite: "KVM_EXIT_MMIO"
        case .halt: "KVM_EXIT_HLT"
        case .shutdown: "KVM_EXIT_SHUTDOWN"
        case .systemEvent: "KVM_EXIT_SYSTEM_EVENT"
        case .failEntry: "KVM_EXIT_FAIL_ENTRY"
        case .internalError: "KVM_EXIT_INTERNAL_ERROR"
        case .interrupted: "KVM_EXIT_INTR"
        case let .unhandled(reason): "KVM exit reason \(reason)"
        }
    }
}
