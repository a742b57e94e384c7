/// The kinds of thread in a `kiln` process. Each gets its own seccomp filter, installed by the
/// thread itself, because what a thread may do follows from what it runs: the vCPU threads only
/// enter the guest and touch devices in memory, the device loop only waits on and moves bytes
/// between descriptors, and the control thread only watches and stops the others.
public enum ThreadRole: String, CaseIterable, Sendable {
    /// The main thread once the VM is built and every other thread spawned: halt watch, stop,
    /// teardown (later also the API server).
    case control
    /// The device event loop (`kiln_devices`) and the blocking console reader (`kiln_console`).
    case devices
    /// One per vCPU (`kiln_vcpuN`): KVM_RUN and exit dispatch.
    case vcpu
    /// The API server's event-loop thread (`kiln_api`): HTTP on the API socket, handing each
    /// request to the VMM thread.
    case api

    /// Firecracker calls the main thread's role "vmm"; same role.
    public static var vmm: ThreadRole { .control }

    /// The allowed system calls of this role, in the order the filter tests them.
    public var rules: [SyscallRule] {
        switch self {
        case .control: SyscallRule.control
        case .devices: SyscallRule.devices
        case .vcpu: SyscallRule.vcpu
        case .api: SyscallRule.api
        }
    }
}
