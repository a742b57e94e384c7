/// The one thing a device may do to the interrupt controller: say "an interrupt is pending".
///
/// Edge-style: the VMM implements it as an irqfd write or a KVM_IRQ_LINE raise-then-lower,
/// so a device calls it once per new interrupt condition, not while a condition persists.
/// Must be callable from any thread and must not call back into the device.
public protocol InterruptLine: Sendable {
    func trigger()
}
