import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// A KVM virtual machine: memory slots, the in-kernel irqchip and PIT, interrupt lines and
/// notification eventfds, and the vCPUs created from it.
public final class VirtualMachine: @unchecked Sendable {
    let descriptor: OwnedDescriptor
    let vcpuMmapSize: Int

    init(descriptor: OwnedDescriptor, vcpuMmapSize: Int) {
        self.descriptor = descriptor
        self.vcpuMmapSize = vcpuMmapSize
    }

    /// KVM_CHECK_EXTENSION on the VM: some answers (KVM_CAP_XSAVE2's size) are per VM.
    public func extensionValue(_ capability: Int32) -> Int32 {
        max(0, kiln_ioctl_val(descriptor.raw, KILN_KVM_CHECK_EXTENSION, UInt(capability)))
    }

    /// KVM_SET_TSS_ADDR: three pages of guest-physical space KVM needs on Intel hosts.
    public func setTSSAddress(_ address: UInt64) throws(KVMError) {
        _ = try check("KVM_SET_TSS_ADDR") { kiln_ioctl_val(descriptor.raw, KILN_KVM_SET_TSS_ADDR, UInt(address)) }
    }

    /// KVM_SET_IDENTITY_MAP_ADDR: one page for the real-mode identity map on Intel hosts.
    public func setIdentityMapAddress(_ address: UInt64) throws(KVMError) {
        var value = address
        _ = try check("KVM_SET_IDENTITY_MAP_ADDR") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_IDENTITY_MAP_ADDR, &value) }
    }

    /// KVM_CREATE_IRQCHIP: in-kernel PIC, IOAPIC and per-vCPU LAPICs.
    public func createIRQChip() throws(KVMError) {
        _ = try check("KVM_CREATE_IRQCHIP") { kiln_ioctl_val(descriptor.raw, KILN_KVM_CREATE_IRQCHIP, 0) }
    }

    /// KVM_CREATE_PIT2 with a dummy speaker port, so port 0x61 does not exit to user space.
    public func createPIT2() throws(KVMError) {
        var config = kvm_pit_config()
        config.flags = UInt32(KVM_PIT_SPEAKER_DUMMY)
        _ = try check("KVM_CREATE_PIT2") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_CREATE_PIT2, &config) }
    }

    /// KVM_SET_USER_MEMORY_REGION: map `size` bytes at host `hostAddress` to guest `guestAddress`.
    /// With `logDirtyPages`, KVM records guest writes to the slot for `dirtyLog(slot:)`; calling
    /// this again on the same slot with only the flag changed turns tracking on or off.
    public func setUserMemoryRegion(slot: UInt32, guestAddress: UInt64, size: UInt64,
                                    hostAddress: UnsafeMutableRawPointer, logDirtyPages: Bool = false) throws(KVMError) {
        var region = kvm_userspace_memory_region(
            slot: slot, flags: logDirtyPages ? KILN_KVM_MEM_LOG_DIRTY_PAGES : 0,
            guest_phys_addr: guestAddress, memory_size: size,
            userspace_addr: UInt64(UInt(bitPattern: hostAddress)))
        _ = try check("KVM_SET_USER_MEMORY_REGION slot \(slot)") {
            kiln_ioctl_ptr(descriptor.raw, KILN_KVM_SET_USER_MEMORY_REGION, &region)
        }
    }

    /// KVM_IRQ_LINE: drive a GSI of the in-kernel irqchip high or low.
    public func setIRQLine(_ gsi: UInt32, high: Bool) throws(KVMError) {
        var level = kvm_irq_level()
        level.irq = gsi
        level.level = high ? 1 : 0
        _ = try check("KVM_IRQ_LINE gsi \(gsi)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_IRQ_LINE, &level) }
    }

    /// KVM_IRQFD: a write to `eventFD` injects an edge on `gsi` without leaving the kernel.
    public func registerIRQFD(eventFD: Int32, gsi: UInt32) throws(KVMError) {
        var irqfd = kvm_irqfd()
        irqfd.fd = UInt32(bitPattern: eventFD)
        irqfd.gsi = gsi
        _ = try check("KVM_IRQFD gsi \(gsi)") { kiln_ioctl_ptr(descriptor.raw, KILN_KVM_IRQFD, &irqfd) }
    }

    /// KVM_IOEVENTFD: a guest write to `address` signals `eventFD` instead of exiting to the VMM.
    public func registerIOEventFD(eventFD: Int32, address: UInt64, length: UInt32,
                                  datamatch: UInt64? = nil, portIO: Bool = false) throws(KVMError) {
        var event = kvm_ioeventfd()
        event.addr = address
        event.len = length
        event.fd = eventFD
        if let datamatch {
            event.datamatch = datamatch
            event.flags |= UInt32(1 << kvm_ioeventfd_flag_nr_datamatch)
        }
        if portIO { event.flags |= UInt32(1 << kvm_ioeventfd_flag_nr_pio) }
        _ = try check("KVM_IOEVENTFD 0x\(String(address, radix: 16))") {
            kiln_ioctl_ptr(descriptor.raw, KILN_KVM_IOEVENTFD, &event)
        }
    }

    /// KVM_CREATE_VCPU and the mapping of its `kvm_run` area.
    public func createVcpu(id: UInt32) throws(KVMError) -> Vcpu {
        let fd = try check("KVM_CREATE_VCPU \(id)") { kiln_ioctl_val(descriptor.raw, KILN_KVM_CREATE_VCPU, UInt(id)) }
        let owned = OwnedDescriptor(fd)
        guard let mapping = mmap(nil, vcpuMmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
              mapping != MAP_FAILED
        else { throw .systemCall(operation: "mmap kvm_run of vCPU \(id)", errno: errno) }
        return Vcpu(id: id, descriptor: owned, run: mapping, runSize: vcpuMmapSize)
    }
}
