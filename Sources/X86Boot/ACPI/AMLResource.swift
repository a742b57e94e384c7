/// ACPI resource descriptors (ACPI 6.5 section 6.4), the bytes inside a `_CRS` buffer, and
/// `ResourceTemplate()`, which wraps them in a Buffer with an end tag.
public enum AMLResource {
    /// Small I/O port descriptor (section 6.4.2.5), tag 0x47, with 16-bit address decoding
    /// (ISA devices decode only 10 bits; Linux maps the range either way).
    public static func io(minimum: UInt16, maximum: UInt16, alignment: UInt8, length: UInt8) -> [UInt8] {
        [0x47, 0x01] + AML.littleEndian(UInt64(minimum), count: 2) + AML.littleEndian(UInt64(maximum), count: 2)
            + [alignment, length]
    }

    /// `ResourceTemplate(){descriptors}`: a Buffer ending in the end tag (section 6.4.2.9).
    /// The checksum byte is 0, which the specification defines as "treat as correct" and is
    /// what iasl emits.
    public static func template(_ descriptors: [[UInt8]]) throws(ACPIError) -> [UInt8] {
        try AML.buffer(Array(descriptors.joined()) + [0x79, 0x00])
    }
}
