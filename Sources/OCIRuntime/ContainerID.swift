/// Container ids as runc accepts them: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 1024 bytes. The id
/// becomes a directory name under --root, so this is also what keeps `..`, `/` and NUL out.
public enum ContainerID {
    public static let maximumLength = 1024

    /// Why `id` is not a valid container id, or nil.
    public static func problem(_ id: String) -> String? {
        let bytes = Array(id.utf8)
        guard !bytes.isEmpty else { return "empty" }
        guard bytes.count <= maximumLength else { return "longer than \(maximumLength) bytes" }
        func alphanumeric(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        }
        guard alphanumeric(bytes[0]) else { return "must start with a letter or digit" }
        guard bytes.allSatisfy({ alphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }) else {
            return "may only hold letters, digits, '_', '.' and '-'"
        }
        // A directory entry name is at most 255 bytes (NAME_MAX): a longer id cannot be stored.
        guard bytes.count <= 255 else { return "longer than 255 bytes (NAME_MAX: the id names its state directory)" }
        return nil
    }
}
