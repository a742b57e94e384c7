/// The image config's run fields saved beside the root filesystem at conversion (`run-config`),
/// in lines that need no JSON decoder: `kiln run --image` looks its image up on every run, and
/// Foundation's JSONDecoder cost most of that lookup (the generic types it instantiates on first
/// use, each a scan of the binary's protocol conformances). An image converted by an older kiln
/// has no such file; its config.json is decoded as before.
///
///     kiln-image-config 1
///     Env=PATH=/usr/bin          one line per element, in order
///     WorkingDir=/app
///     User=kilnuser
///     Entrypoint                 the array is set (possibly empty)
///     Entrypoint=/bin/sh         its elements
///     Cmd
///     Cmd=-c
///
/// Values escape `\` as `\\` and a newline as `\n`; nothing else is special.
extension ImageConfig {
    static let savedHeader = "kiln-image-config 1"

    public var savedText: String {
        var lines = [Self.savedHeader]
        lines += env.map { "Env=" + Self.escape($0) }
        if let workingDir { lines.append("WorkingDir=" + Self.escape(workingDir)) }
        if let user { lines.append("User=" + Self.escape(user)) }
        if let entrypoint { lines += ["Entrypoint"] + entrypoint.map { "Entrypoint=" + Self.escape($0) } }
        if let cmd { lines += ["Cmd"] + cmd.map { "Cmd=" + Self.escape($0) } }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The config `savedText` wrote, or nil for anything else (another version, an unknown or
    /// repeated field, an element before its array, a bad escape). Read as UTF-8 bytes: a
    /// `\r\n` is one Character to Swift, and lines end at every newline byte.
    public init?(savedText: String) {
        var lines = Array(savedText.utf8).split(separator: 0x0A, omittingEmptySubsequences: false)
        guard lines.first.map({ Array($0) }) == Array(Self.savedHeader.utf8), lines.last?.isEmpty == true else { return nil }
        lines.removeFirst()
        lines.removeLast()
        var config = ImageConfig()
        for line in lines {
            let equals = line.firstIndex(of: 0x3D)
            let key = String(decoding: line[..<(equals ?? line.endIndex)], as: UTF8.self)
            let value: String
            if let equals {
                guard let unescaped = Self.unescape(line[(equals + 1)...]) else { return nil }
                value = unescaped
            } else {
                value = ""
            }
            switch (key, equals != nil) {
            case ("Env", true): config.env.append(value)
            case ("WorkingDir", true) where config.workingDir == nil: config.workingDir = value
            case ("User", true) where config.user == nil: config.user = value
            case ("Entrypoint", false) where config.entrypoint == nil: config.entrypoint = []
            case ("Entrypoint", true) where config.entrypoint != nil: config.entrypoint?.append(value)
            case ("Cmd", false) where config.cmd == nil: config.cmd = []
            case ("Cmd", true) where config.cmd != nil: config.cmd?.append(value)
            default: return nil
            }
        }
        self = config
    }

    private static func escape(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x5C || $0 == 0x0A }) else { return text }
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func unescape(_ bytes: ArraySlice<UInt8>) -> String? {
        guard bytes.contains(0x5C) else { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        var escaped = false
        for byte in bytes {
            if escaped {
                switch byte {
                case 0x5C: out.append(0x5C)
                case 0x6E: out.append(0x0A)
                default: return nil
                }
                escaped = false
            } else if byte == 0x5C {
                escaped = true
            } else {
                out.append(byte)
            }
        }
        return escaped ? nil : String(decoding: out, as: UTF8.self)
    }
}
