/// A host directory the agent mounts read-only in the guest (`kiln run -v HOST:GUEST`): kiln
/// serves HOST as a virtio-fs device with `tag` and writes `kiln.mount=TAG:GUEST` on the kernel
/// command line; the agent mounts the tag at `path` after the root is set up. Shared by both
/// ends so kiln writes exactly what the agent accepts.
public struct GuestMount: Equatable, Sendable {
    public var tag: String
    public var path: String

    public static let commandLineKey = "kiln.mount="
    /// virtio-fs's config space holds 36 bytes of tag.
    public static let maxTagBytes = 36
    /// The kernel's PATH_MAX.
    public static let maxPathBytes = 4095

    public init(tag: String, path: String) {
        self.tag = tag
        self.path = path
    }

    public var commandLineWord: String { Self.commandLineKey + tag + ":" + path }

    /// Why `tag` cannot be a share's tag here, or nil: 1 to 36 of [A-Za-z0-9._-], so it needs
    /// no quoting on the command line and holds no ':'.
    public static func tagProblem(_ tag: String) -> String? {
        guard (1...maxTagBytes).contains(tag.utf8.count) else { return "the tag must be 1 to \(maxTagBytes) bytes" }
        let allowed = tag.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        return allowed ? nil : "the tag may only hold letters, digits, '.', '_' and '-'"
    }

    /// Why `path` cannot be a mount point in the guest, or nil: absolute, not `/` itself (that
    /// would hide the whole system), no `.` or `..` component (the agent must mount where kiln
    /// said, not somewhere a path walks to), no empty component, no whitespace or control
    /// bytes (they would split the command line word), at most PATH_MAX.
    public static func pathProblem(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return "must be an absolute guest path" }
        guard path.utf8.count <= maxPathBytes else { return "is longer than \(maxPathBytes) bytes" }
        guard !path.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            return "must not contain spaces or control characters"
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let trimmed = components.last == "" ? components.dropLast() : components[...]
        guard !trimmed.isEmpty else { return "must not be / itself" }
        for component in trimmed {
            if component.isEmpty { return "must not contain '//'" }
            if component == "." || component == ".." { return "must not contain '.' or '..' components" }
        }
        return nil
    }

    /// Every `kiln.mount=` word on the command line, in order; a malformed one is `.failure`
    /// with the word and the reason, so the agent can report it and go on without it.
    public static func fromCommandLine(_ cmdline: String) -> [Result<GuestMount, GuestMountError>] {
        cmdline.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
            .filter { $0.hasPrefix(commandLineKey) }
            .map { word in
                let value = word.dropFirst(commandLineKey.count)
                guard let colon = value.firstIndex(of: ":") else {
                    return .failure(GuestMountError(word: String(word), reason: "expected TAG:PATH"))
                }
                let mount = GuestMount(tag: String(value[..<colon]), path: String(value[value.index(after: colon)...]))
                if let problem = tagProblem(mount.tag) ?? pathProblem(mount.path).map({ "the path \($0)" }) {
                    return .failure(GuestMountError(word: String(word), reason: problem))
                }
                return .success(mount)
            }
    }
}

public struct GuestMountError: Error, Equatable, Sendable, CustomStringConvertible {
    public let word: String
    public let reason: String
    public var description: String { "\(word): \(reason)" }
}
