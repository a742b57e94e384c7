import GuestMemory

/// Why the ACPI tables could not be built or written.
public enum ACPIError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidVcpuCount(Int, maximum: Int)
    /// An AML name segment or path that is not 1-4 characters of [A-Z0-9_] per segment.
    case invalidAMLName(String)
    /// Not an EISA id: three letters A-Z and four upper-case hex digits ("PNP0501").
    case invalidEISAID(String)
    /// An AML string with a character outside ASCII 0x01-0x7F.
    case invalidAMLString(String)
    /// A package, device or buffer whose AML PkgLength would exceed 2^28 bytes.
    case amlTooLong(bytes: Int)
    /// A package with more than 255 elements (NumElements is one byte).
    case amlTooManyElements(Int)
    /// More virtio-mmio devices than the DSDT names (VR00-VRFF), or one outside 32-bit MMIO.
    case invalidVirtioDevice(index: Int)
    /// The tables do not fit between the RSDP and the end of the BIOS area.
    case tablesTooLarge(bytes: Int, available: Int)
    case guestMemory(GuestMemoryError)

    public var description: String {
        switch self {
        case let .invalidVcpuCount(count, maximum):
            "ACPI: vCPU count \(count) is outside 1...\(maximum)"
        case let .invalidAMLName(name):
            "ACPI: \"\(name)\" is not a valid AML name"
        case let .invalidEISAID(id):
            "ACPI: \"\(id)\" is not an EISA id (three letters, four hex digits)"
        case let .invalidAMLString(string):
            "ACPI: \"\(string)\" cannot be an AML string (ASCII 0x01-0x7f only)"
        case let .amlTooLong(bytes):
            "ACPI: an AML object of \(bytes) bytes is too long for a PkgLength"
        case let .amlTooManyElements(count):
            "ACPI: an AML package of \(count) elements exceeds 255"
        case let .invalidVirtioDevice(index):
            "ACPI: virtio-mmio device \(index) cannot be described (more than 256, or not below 4 GiB)"
        case let .tablesTooLarge(bytes, available):
            "ACPI: tables need \(bytes) bytes, the BIOS area has \(available)"
        case let .guestMemory(error):
            "ACPI: writing the tables failed: \(error)"
        }
    }
}
