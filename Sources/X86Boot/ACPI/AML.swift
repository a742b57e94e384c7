/// An encoder for the few ACPI Machine Language constructs Kiln's DSDT needs (ACPI 6.5,
/// section 20.2): names, integers, strings, packages, buffers, scopes, devices and methods.
/// Each function returns the complete encoding of one term, so terms nest by concatenation;
/// the output matches what `iasl` emits for the same ASL.
public enum AML {
    // Opcodes (ACPI 6.5 section 20.3).
    static let zeroOp: UInt8 = 0x00
    static let oneOp: UInt8 = 0x01
    static let nameOp: UInt8 = 0x08
    static let bytePrefix: UInt8 = 0x0a
    static let wordPrefix: UInt8 = 0x0b
    static let dwordPrefix: UInt8 = 0x0c
    static let stringPrefix: UInt8 = 0x0d
    static let qwordPrefix: UInt8 = 0x0e
    static let scopeOp: UInt8 = 0x10
    static let bufferOp: UInt8 = 0x11
    static let packageOp: UInt8 = 0x12
    static let methodOp: UInt8 = 0x14
    static let returnOp: UInt8 = 0xa4
    static let notifyOp: UInt8 = 0x86
    static let extOpPrefix: UInt8 = 0x5b
    static let deviceOp: UInt8 = 0x82  // after extOpPrefix
    static let rootChar: UInt8 = 0x5c  // "\"
    static let parentPrefixChar: UInt8 = 0x5e  // "^"
    static let dualNamePrefix: UInt8 = 0x2e
    static let multiNamePrefix: UInt8 = 0x2f
    static let nullName: UInt8 = 0x00

    /// A PkgLength is at most four bytes: 4 + 8 + 8 + 8 bits of length.
    static let maxPackageLength = 1 << 28

    /// The PkgLength for `contentLength` bytes that follow it. The encoded value counts the
    /// PkgLength bytes themselves, which is why the width is chosen before the value.
    public static func packageLength(contentLength: Int) throws(ACPIError) -> [UInt8] {
        guard contentLength >= 0 else { throw .amlTooLong(bytes: contentLength) }
        if contentLength + 1 < 0x40 { return [UInt8(contentLength + 1)] }
        for width in 2...4 where contentLength + width < 1 << (4 + 8 * (width - 1)) {
            let total = contentLength + width
            // Lead byte: bits 7-6 the count of following bytes, bits 3-0 the low nibble.
            var bytes = [UInt8((width - 1) << 6 | (total & 0x0f))]
            for index in 1..<width { bytes.append(UInt8(truncatingIfNeeded: total >> (4 + 8 * (index - 1)))) }
            return bytes
        }
        throw .amlTooLong(bytes: contentLength)
    }

    /// The smallest encoding of `value`: ZeroOp, OneOp, or a Byte/Word/DWord/QWord constant.
    public static func integer(_ value: UInt64) -> [UInt8] {
        switch value {
        case 0: [zeroOp]
        case 1: [oneOp]
        case ...0xff: [bytePrefix, UInt8(value)]
        case ...0xffff: [wordPrefix] + littleEndian(value, count: 2)
        case ...0xffff_ffff: [dwordPrefix] + littleEndian(value, count: 4)
        default: [qwordPrefix] + littleEndian(value, count: 8)
        }
    }

    /// A String term: ASCII without NUL (section 20.2.3), NUL-terminated in the encoding.
    public static func string(_ value: String) throws(ACPIError) -> [UInt8] {
        let bytes = Array(value.utf8)
        guard bytes.allSatisfy({ (0x01...0x7f).contains($0) }) else { throw .invalidAMLString(value) }
        return [stringPrefix] + bytes + [0]
    }

    /// `EisaId("PNP0501")`: three upper-case letters packed five bits each, then four hex
    /// digits, stored big-endian in a DWord (ACPI 6.5 section 19.6.35).
    public static func eisaID(_ id: String) throws(ACPIError) -> [UInt8] {
        let bytes = Array(id.utf8)
        let letters = UInt8(ascii: "A")...UInt8(ascii: "Z")
        let hexDigits = Array("0123456789ABCDEF".utf8)
        guard bytes.count == 7, bytes[0..<3].allSatisfy(letters.contains),
              bytes[3...].allSatisfy(hexDigits.contains) else { throw .invalidEISAID(id) }
        let product = bytes[3...].reduce(UInt16(0)) { $0 << 4 | UInt16(hexDigits.firstIndex(of: $1) ?? 0) }
        let vendor = bytes[0..<3].reduce(UInt16(0)) { $0 << 5 | UInt16($1 - 0x40) }
        return [dwordPrefix, UInt8(vendor >> 8), UInt8(vendor & 0xff), UInt8(product >> 8), UInt8(product & 0xff)]
    }

    /// A NameString: an optional root ("\") or parent ("^") prefix, then dot-separated
    /// segments of 1-4 characters, each padded with "_" to four (ASL's `_S5` is `_S5_`).
    public static func nameString(_ path: String) throws(ACPIError) -> [UInt8] {
        var rest = Substring(path)
        var prefix: [UInt8] = []
        if rest.first == "\\" {
            prefix = [rootChar]
            rest = rest.dropFirst()
        } else {
            while rest.first == "^" {
                prefix.append(parentPrefixChar)
                rest = rest.dropFirst()
            }
        }
        if rest.isEmpty {
            guard !prefix.isEmpty else { throw .invalidAMLName(path) }
            return prefix + [nullName]
        }
        let segments = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.count <= 255 else { throw .invalidAMLName(path) }
        var encoded: [UInt8] = []
        for segment in segments { encoded += try nameSegment(segment, in: path) }
        switch segments.count {
        case 1: return prefix + encoded
        case 2: return prefix + [dualNamePrefix] + encoded
        default: return prefix + [multiNamePrefix, UInt8(segments.count)] + encoded
        }
    }

    /// `Name(path, value)`: binds a data object (integer, string, package, buffer).
    public static func name(_ path: String, _ value: [UInt8]) throws(ACPIError) -> [UInt8] {
        [nameOp] + (try nameString(path)) + value
    }

    /// `Package(){...}` with NumElements equal to the number of initialisers.
    public static func package(_ elements: [[UInt8]]) throws(ACPIError) -> [UInt8] {
        guard elements.count <= 255 else { throw .amlTooManyElements(elements.count) }
        let content = [UInt8(elements.count)] + elements.joined()
        return [packageOp] + (try packageLength(contentLength: content.count)) + content
    }

    /// `Buffer(){bytes}`: the size as an integer term, then the initialiser.
    public static func buffer(_ bytes: [UInt8]) throws(ACPIError) -> [UInt8] {
        let content = integer(UInt64(bytes.count)) + bytes
        return [bufferOp] + (try packageLength(contentLength: content.count)) + content
    }

    /// `Scope(path){terms}`.
    public static func scope(_ path: String, _ terms: [[UInt8]]) throws(ACPIError) -> [UInt8] {
        let content = (try nameString(path)) + terms.joined()
        return [scopeOp] + (try packageLength(contentLength: content.count)) + content
    }

    /// `Device(path){terms}`.
    public static func device(_ path: String, _ terms: [[UInt8]]) throws(ACPIError) -> [UInt8] {
        let content = (try nameString(path)) + terms.joined()
        return [extOpPrefix, deviceOp] + (try packageLength(contentLength: content.count)) + content
    }

    /// `Method(path, arguments, serialized){terms}` with sync level 0.
    public static func method(_ path: String, arguments: Int = 0, serialized: Bool = false,
                              _ terms: [[UInt8]]) throws(ACPIError) -> [UInt8] {
        guard (0...7).contains(arguments) else { throw .invalidAMLName(path) }
        let flags = UInt8(arguments) | (serialized ? 1 << 3 : 0)
        let content = (try nameString(path)) + [flags] + terms.joined()
        return [methodOp] + (try packageLength(contentLength: content.count)) + content
    }

    /// `Notify(path, value)`.
    public static func notify(_ path: String, _ value: UInt64) throws(ACPIError) -> [UInt8] {
        [notifyOp] + (try nameString(path)) + integer(value)
    }

    /// `Return(value)`.
    public static func returning(_ value: [UInt8]) -> [UInt8] { [returnOp] + value }

    private static func nameSegment(_ segment: Substring, in path: String) throws(ACPIError) -> [UInt8] {
        let bytes = Array(segment.utf8)
        guard (1...4).contains(bytes.count) else { throw .invalidAMLName(path) }
        for (index, byte) in bytes.enumerated() {
            let isLead = byte == UInt8(ascii: "_") || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            let isDigit = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            guard isLead || (index > 0 && isDigit) else { throw .invalidAMLName(path) }
        }
        return bytes + [UInt8](repeating: UInt8(ascii: "_"), count: 4 - bytes.count)
    }

    static func littleEndian(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}
