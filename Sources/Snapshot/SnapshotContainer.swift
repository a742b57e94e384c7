/// The state file container: named, opaque byte sections behind a versioned, checksummed header.
///
/// Layout (all integers little-endian):
///
///     0   magic "KILNSNAP"                      8 bytes
///     8   format version                        u32 (`formatVersion`)
///     12  section count                         u32 (at most `maxSections`)
///     16  total file length, CRC included       u64
///     24  section table: per section 64 bytes:
///           name, ASCII [A-Za-z0-9._:-], 1...40 bytes, NUL-padded to 40
///           offset u64, length u64 (inside the payload area), reserved u64 (0)
///     ..  payloads (in table order, back to back)
///     end-8  CRC-64/XZ of every byte before it  u64
///
/// Reading checks, in this order and before any section is handed out: minimum size, magic,
/// version, declared length == file length, CRC, then the table (counts, names, bounds with
/// overflow-safe arithmetic, no overlaps, no duplicates). Sections are opaque here: the KVM
/// state, the memory layout and each device's state are encoded by their owners.
public struct SnapshotContainer: Sendable, Equatable {
    public static let magic: [UInt8] = Array("KILNSNAP".utf8)
    public static let formatVersion: UInt32 = 1
    public static let maxSections = 4096
    public static let maxNameLength = 40
    /// State files hold registers and device state, never guest memory: 256 MiB is generous.
    public static let maxFileSize: UInt64 = 256 << 20
    static let headerSize = 24
    static let entrySize = 64
    static let checksumSize = 8

    /// Sections in file order.
    public private(set) var sections: [(name: String, bytes: [UInt8])]

    public init() { sections = [] }

    public static func == (lhs: SnapshotContainer, rhs: SnapshotContainer) -> Bool {
        lhs.sections.count == rhs.sections.count
            && zip(lhs.sections, rhs.sections).allSatisfy { $0.name == $1.name && $0.bytes == $1.bytes }
    }

    public func section(_ name: String) -> [UInt8]? { sections.first { $0.name == name }?.bytes }

    public func requiredSection(_ name: String) throws(SnapshotError) -> [UInt8] {
        guard let bytes = section(name) else { throw .missingSection(name) }
        return bytes
    }

    public var sectionNames: [String] { sections.map(\.name) }

    /// Adds a section; names are unique and from the safe character set.
    public mutating func add(_ name: String, _ bytes: [UInt8]) throws(SnapshotError) {
        guard Self.isValidName(Array(name.utf8)) else { throw .malformed("invalid section name \"\(name)\"") }
        guard section(name) == nil else { throw .malformed("duplicate section \(name)") }
        guard sections.count < Self.maxSections else {
            throw .tooLarge(what: "section count", size: UInt64(sections.count + 1), limit: UInt64(Self.maxSections))
        }
        sections.append((name, bytes))
    }

    public func encoded() throws(SnapshotError) -> [UInt8] {
        let tableEnd = Self.headerSize + sections.count * Self.entrySize
        let payload = sections.reduce(0) { $0 + $1.bytes.count }
        let total = UInt64(tableEnd) + UInt64(payload) + UInt64(Self.checksumSize)
        guard total <= Self.maxFileSize else { throw .tooLarge(what: "snapshot state", size: total, limit: Self.maxFileSize) }
        var writer = ByteWriter()
        writer.raw(Self.magic)
        writer.u32(Self.formatVersion)
        writer.u32(UInt32(sections.count))
        writer.u64(total)
        var offset = UInt64(tableEnd)
        for (name, bytes) in sections {
            var field = Array(name.utf8)
            field.append(contentsOf: repeatElement(0, count: Self.maxNameLength - field.count))
            writer.raw(field)
            writer.u64(offset)
            writer.u64(UInt64(bytes.count))
            writer.u64(0)
            offset += UInt64(bytes.count)
        }
        for (_, bytes) in sections { writer.raw(bytes) }
        var result = writer.bytes
        let crc = CRC64.checksum(result)
        withUnsafeBytes(of: crc.littleEndian) { result.append(contentsOf: $0) }
        return result
    }

    /// Parses an untrusted file image; see the type's comment for the checks and their order.
    public static func decode(_ bytes: [UInt8]) throws(SnapshotError) -> SnapshotContainer {
        let size = UInt64(bytes.count)
        guard size <= maxFileSize else { throw .tooLarge(what: "snapshot state", size: size, limit: maxFileSize) }
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            if bytes.count < magic.count, bytes == Array(magic.prefix(bytes.count)) {
                throw .truncated(what: "header", needed: UInt64(headerSize), available: size)
            }
            throw .badMagic
        }
        var header = ByteReader(Array(bytes.prefix(headerSize)), context: "header")
        _ = try header.raw(magic.count, "magic")
        let version = try header.u32("format version")
        guard version == formatVersion else { throw .unsupportedVersion(found: version, supported: formatVersion) }
        let count = try header.u32("section count")
        let declared = try header.u64("file length")
        guard declared == size else {
            if declared > size { throw .truncated(what: "file", needed: declared, available: size) }
            throw .lengthMismatch(declared: declared, actual: size)
        }
        guard bytes.count >= headerSize + checksumSize else {
            throw .truncated(what: "header and checksum", needed: UInt64(headerSize + checksumSize), available: size)
        }
        let body = bytes.count - checksumSize
        var trailer = ByteReader(Array(bytes[body...]), context: "checksum")
        let stored = try trailer.u64("CRC64")
        let computed = bytes.withUnsafeBytes { all in
            var crc = CRC64()
            crc.update(UnsafeRawBufferPointer(rebasing: all[0..<body]))
            return crc.value
        }
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }

        // Checksummed from here on, but still untrusted: a file can be crafted with a valid CRC.
        guard count <= maxSections else { throw .tooLarge(what: "section count", size: UInt64(count), limit: UInt64(maxSections)) }
        let tableEnd = headerSize + Int(count) * entrySize   // at most 24 + 4096 * 64: no overflow
        guard tableEnd <= body else {
            throw .truncated(what: "section table", needed: UInt64(tableEnd), available: UInt64(body))
        }
        var table = ByteReader(Array(bytes[headerSize..<tableEnd]), context: "section table")
        var entries: [(name: String, offset: Int, length: Int)] = []
        for index in 0..<Int(count) {
            let field = try table.raw(maxNameLength, "section \(index) name")
            let nameBytes = Array(field.prefix { $0 != 0 })
            guard field[nameBytes.count...].allSatisfy({ $0 == 0 }), isValidName(nameBytes),
                  let name = String(validating: nameBytes, as: UTF8.self)
            else { throw .malformed("section \(index) has an invalid name") }
            let offset = try table.u64("section \(name) offset")
            let length = try table.u64("section \(name) length")
            guard try table.u64("section \(name) reserved") == 0 else { throw .malformed("section \(name): reserved field set") }
            let (end, overflow) = offset.addingReportingOverflow(length)
            guard !overflow, offset >= UInt64(tableEnd), end <= UInt64(body) else {
                throw .malformed("section \(name) [\(offset), +\(length)) lies outside the payload area")
            }
            guard !entries.contains(where: { $0.name == name }) else { throw .malformed("duplicate section \(name)") }
            entries.append((name, Int(offset), Int(length)))
        }
        let sorted = entries.sorted { $0.offset < $1.offset }
        for (first, second) in zip(sorted, sorted.dropFirst()) where first.offset + first.length > second.offset {
            throw .malformed("sections \(first.name) and \(second.name) overlap")
        }
        var container = SnapshotContainer()
        container.sections = entries.map { ($0.name, Array(bytes[$0.offset..<($0.offset + $0.length)])) }
        return container
    }

    static func isValidName(_ name: [UInt8]) -> Bool {
        guard !name.isEmpty, name.count <= maxNameLength else { return false }
        return name.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == 0x2e || byte == 0x5f || byte == 0x3a || byte == 0x2d
        }
    }
}
