import CKiln
import Devices
import KVM
#if canImport(Glibc)
import Glibc
#endif

/// An interrupt line backed by an irqfd: `trigger()` is one eventfd write and KVM injects the
/// edge into the in-kernel irqchip without waking any VMM thread.
final class IRQFDLine: InterruptLine, @unchecked Sendable {
    let gsi: UInt32
    private let eventFD: Int32

    init(vm: VirtualMachine, gsi: UInt32) throws(VMMError) {
        let fd = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        guard fd >= 0 else { throw .thread(operation: "eventfd for IRQ \(gsi)", errno: errno) }
        do {
            try vm.registerIRQFD(eventFD: fd, gsi: gsi)
        } catch {
            close(fd)
            throw .kvm(error)
        }
        self.gsi = gsi
        eventFD = fd
    }

    deinit { close(eventFD) }

    func trigger() { _ = kiln_eventfd_signal(eventFD) }
}
