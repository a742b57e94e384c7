/// A virtio-mmio transport as the DSDT describes it (_HID "LNRO0005", the id Linux's
/// virtio_mmio driver matches under ACPI). With ACPI on, this replaces the kernel command
/// line's `virtio_mmio.device=SIZE@BASE:IRQ`: on a hardware-reduced platform Linux has no
/// IRQ numbered like the GSI unless a firmware description maps it.
public struct ACPIVirtioDevice: Sendable, Equatable {
    public var base: UInt64
    public var size: UInt64
    /// The IOAPIC input the device's irqfd raises.
    public var gsi: UInt32

    public init(base: UInt64, size: UInt64, gsi: UInt32) {
        self.base = base
        self.size = size
        self.gsi = gsi
    }
}
