/// vCPU threads (`kiln_vcpuN`), from the start of the thread body, before the first KVM_RUN.
/// Evidence: strace of hello, smp (2 and 4 vCPUs), serial_echo, halt, idle, triple_fault,
/// mmio_unmapped and zeropage guests. Hot calls first: the filter tests rules in this order.
extension SyscallRule {
    static let vcpu: [SyscallRule] = [
        allow("ioctl", .argument(1, isOneOf: [KVMRequest.run, KVMRequest.getRegisters, KVMRequest.getMPState,
                                              KVMRequest.getSpecialRegisters, TunRequest.setOffload]),
              because: "KVM_RUN; KVM_GET_MP_STATE and KVM_GET_REGS for the halt probe; KVM_GET_REGS and "
                  + "KVM_GET_SREGS for the report of a triple fault; TUNSETOFFLOAD when "
                  + "a virtio-net driver sets DRIVER_OK (an MMIO write handled on the vCPU thread)"),
        allow("write", because: "serial output (stdout or file), irqfd eventfds, boot-time line on stderr"),
        futex,
        gettid,
        rtSigreturn,
        getpid,
        tgkillKick,
        rtSigprocmask,
        clockGettime,
        mmapAnonymous,
        mprotectNoExec,
        munmap,
        madvise,
        brk,
        exit,
        exitGroup,
    ]
}
