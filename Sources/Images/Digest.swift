/// A `sha256:` content digest: the only algorithm OCI registries use in practice, and the only
/// one kiln accepts (an unverifiable digest is no better than none).
public struct Digest: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// 64 lowercase hex digits.
    public let hex: String

    public init?(_ text: String) {
        guard text.hasPrefix("sha256:") else { return nil }
        self.init(hex: String(text.dropFirst(7)))
    }

    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            return nil
        }
        self.hex = hex
    }

    public var description: String { "sha256:" + hex }

    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }
}
