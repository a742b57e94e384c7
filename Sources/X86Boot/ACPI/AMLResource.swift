/// ACPI resource descriptors (ACPI 6.5 section 6.4), the bytes inside a `_CRS` buffer, and
/// `ResourceTemplate()`, which wraps them in a Buffer with an end tag.
public enum AMLResource {
    /// Small I/O port descriptor (section 6.4.2.5), tag 0x47, with 16-bit address decoding
    /// (ISA devices decode only 10 bits; Linux maps the range either way).
    public static func io(minimum: UInt16, maximum: UInt16, alignment: UInt8, length: UInt8) -> [UInt8] {
        [0x47, 0x01] + AML.littleEndian(UInt64(minimum), count: 2) + AML.littleEndian(UInt64(maximum), count: 2)
            + [alignment, length]
    }

    /// Large fixed-location 32-bit memory range descriptor (section 6.4.3.4), read-write.
    public static func memory32Fixed(base: UInt32, length: UInt32) -> [UInt8] {
        [0x86, 0x09, 0x00, 0x01] + AML.littleEndian(UInt64(base), count: 4) + AML.littleEndian(UInt64(length), count: 4)
    }

    /// Extended interrupt descriptor (section 6.4.3.6) for one GSI, consumed by the device,
    /// edge-triggered, active-high, exclusive: how Kiln's irqfd lines behave. Linux maps the
    /// GSI to an IRQ through this (acpi_register_gsi), which is the only way a device gets an
    /// interrupt on a hardware-reduced platform.
    public static func interrupt(gsi: UInt32) -> [UInt8] {
        let consumer: UInt8 = 1 << 0
        let edge: UInt8 = 1 << 1
        return [0x89, 0x06, 0x00, consumer | edge, 0x01] + AML.littleEndian(UInt64(gsi), count: 4)
    }

    /// `ResourceTemplate(){descriptors}`: a Buffer ending in the end tag (section 6.4.2.9).
    /// The checksum byte is 0, which the specification defines as "treat as correct" and is
    /// what iasl emits.
    public static func template(_ descriptors: [[UInt8]]) throws(ACPIError) -> [UInt8] {
        try AML.buffer(Array(descriptors.joined()) + [0x79, 0x00])
    }
}
