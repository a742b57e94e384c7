/// The Root System Description Pointer (ACPI 6.5 section 5.2.5), revision 2: Linux follows
/// its XSDT address. The RSDT address stays 0; ACPICA uses the XSDT whenever revision > 1.
enum RSDP {
    static let size = 36
    static let revision: UInt8 = 2
    /// The ACPI 1.0 checksum covers the first 20 bytes, the extended one all 36.
    static let checksumLength = 20

    static func bytes(xsdtAddress: UInt64) -> [UInt8] {
        var rsdp = StructureBuffer(count: size)
        rsdp.set(bytes: Array("RSD PTR ".utf8), at: 0)
        rsdp.set(bytes: SystemDescriptionTable.oemID, at: 9)
        rsdp.set(revision, at: 15)
        rsdp.set(UInt32(size), at: 20)
        rsdp.set(xsdtAddress, at: 24)
        rsdp.set(rsdp.checksum(of: 0..<checksumLength), at: 8)
        rsdp.set(rsdp.checksum(of: 0..<size), at: 32)
        return rsdp.bytes
    }
}

/// The Extended System Description Table (section 5.2.8): 64-bit addresses of the FADT and
/// MADT. The DSDT is reached through the FADT, never listed here.
enum XSDT {
    static let revision: UInt8 = 1

    static func size(entries: Int) -> Int { SystemDescriptionTable.headerSize + 8 * entries }

    static func bytes(entries: [UInt64]) -> [UInt8] {
        var table = SystemDescriptionTable.start(signature: "XSDT", revision: revision, length: size(entries: entries.count))
        for (index, address) in entries.enumerated() {
            table.set(address, at: SystemDescriptionTable.headerSize + 8 * index)
        }
        return SystemDescriptionTable.finish(&table)
    }
}
