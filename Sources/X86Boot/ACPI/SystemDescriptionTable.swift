/// The 36-byte header every ACPI system description table starts with (ACPI 6.5 section
/// 5.2.6), and the checksum that makes a table's bytes sum to zero.
enum SystemDescriptionTable {
    static let headerSize = 36
    static let checksumOffset = 9
    static let oemID = Array("KILN  ".utf8)  // 6 bytes
    static let oemRevision: UInt32 = 1
    static let creatorID = Array("KILN".utf8)
    static let creatorRevision: UInt32 = 1

    /// A zero-filled table of `length` bytes with its header written, checksum still 0.
    /// The OEM table id is "KILN" followed by the signature, so each table is named apart.
    static func start(signature: String, revision: UInt8, length: Int) -> StructureBuffer {
        var table = StructureBuffer(count: length)
        table.set(bytes: Array(signature.utf8), at: 0)
        table.set(UInt32(length), at: 4)
        table.set(revision, at: 8)
        table.set(bytes: oemID, at: 10)
        table.set(bytes: Array("KILN".utf8) + Array(signature.utf8), at: 16)
        table.set(oemRevision, at: 24)
        table.set(bytes: creatorID, at: 28)
        table.set(creatorRevision, at: 32)
        return table
    }

    /// Sets the checksum byte last, once every other byte is final.
    static func finish(_ table: inout StructureBuffer) -> [UInt8] {
        table.set(UInt8(0), at: checksumOffset)
        table.set(table.checksum(of: 0..<table.count), at: checksumOffset)
        return table.bytes
    }
}
