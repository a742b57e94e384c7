/// The grammar of image references (distribution/reference, as podman and skopeo accept it).
enum ReferenceParser {
    static let dockerHub = "docker.io"

    static func parse(_ text: String, currentDirectory: String?) throws(ImageError) -> ImageReference {
        func bad(_ problem: String) -> ImageError { .invalidReference(text, problem: problem) }
        guard !text.isEmpty else { throw bad("empty reference") }
        guard text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7f }) else {
            throw bad("contains whitespace or control characters")
        }
        if text.hasPrefix("oci:") {
            let (path, tag) = try pathAndTag(String(text.dropFirst(4)), text, currentDirectory)
            return .oci(path: path, tag: tag)
        }
        if text.hasPrefix("oci-archive:") {
            let (path, tag) = try pathAndTag(String(text.dropFirst(12)), text, currentDirectory)
            return .ociArchive(path: path, tag: tag)
        }
        if text.hasPrefix("docker-archive:") {
            let path = String(text.dropFirst(15))
            guard !path.isEmpty else { throw bad("no archive path") }
            return .dockerArchive(path: absolute(path, currentDirectory))
        }
        if text.hasPrefix("docker://") { return try parseRegistry(String(text.dropFirst(9)), text) }
        if let colon = text.firstIndex(of: ":"), let scheme = transportName(text[..<colon]) {
            throw bad("unsupported transport \(quoted(scheme))")
        }
        return try parseRegistry(text, text)
    }

    /// skopeo's other transports: named so that `dir:/x` is refused as such, not parsed as an
    /// image `dir` with a bad tag.
    private static func transportName(_ scheme: Substring) -> String? {
        let known = ["dir", "containers-storage", "docker-daemon", "ostree", "sif", "tarball"]
        return known.contains(String(scheme)) ? String(scheme) : nil
    }

    /// `PATH[:TAG]` of the oci transports: the last `:` starts a tag unless a `/` follows it.
    private static func pathAndTag(_ rest: String, _ text: String, _ cwd: String?) throws(ImageError) -> (String, String?) {
        var path = rest
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            path = String(rest[..<colon])
            tag = String(rest[rest.index(after: colon)...])
            guard let tag, isTag(tag) else {
                throw .invalidReference(text, problem: "invalid tag \(quoted(tag ?? "")) (letters, digits, _ . -; at most 128)")
            }
        }
        guard !path.isEmpty else { throw .invalidReference(text, problem: "no path") }
        return (absolute(path, cwd), tag)
    }

    private static func absolute(_ path: String, _ cwd: String?) -> String {
        guard let cwd, !path.hasPrefix("/") else { return path }
        return (cwd.hasSuffix("/") ? cwd : cwd + "/") + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }

    private static func parseRegistry(_ body: String, _ text: String) throws(ImageError) -> ImageReference {
        func bad(_ problem: String) -> ImageError { .invalidReference(text, problem: problem) }
        var remainder = Substring(body)
        var digest: Digest?
        if let at = remainder.firstIndex(of: "@") {
            let digestText = String(remainder[remainder.index(after: at)...])
            guard let parsed = Digest(digestText) else {
                throw bad("invalid digest \(quoted(digestText)) (sha256: and 64 lowercase hex digits)")
            }
            digest = parsed
            remainder = remainder[..<at]
        }
        var tag: String?
        // A tag's colon comes after the last slash; an earlier one belongs to host:port.
        if let colon = remainder.lastIndex(of: ":"), !remainder[colon...].contains("/") {
            let tagText = String(remainder[remainder.index(after: colon)...])
            guard isTag(tagText) else {
                throw bad("invalid tag \(quoted(tagText)) (letters, digits, _ . -; at most 128, not starting with . or -)")
            }
            tag = tagText
            remainder = remainder[..<colon]
        }
        var components = remainder.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let first = components.first, !first.isEmpty else { throw bad("no repository name") }
        var registry = dockerHub
        if components.count > 1, first.contains(".") || first.contains(":") || first == "localhost" {
            guard isHost(first) else { throw bad("invalid registry host \(quoted(first))") }
            registry = first == "index.docker.io" ? dockerHub : first
            components.removeFirst()
        }
        for component in components {
            guard !component.isEmpty else { throw bad("empty path component") }
            guard component == component.lowercased() else { throw bad("repository name must be lowercase") }
            guard isPathComponent(component) else {
                throw bad("invalid repository path component \(quoted(component)) (a-z 0-9 separated by . _ __ or -)")
            }
        }
        if registry == dockerHub && components.count == 1 { components.insert("library", at: 0) }
        let repository = components.joined(separator: "/")
        guard registry.utf8.count + 1 + repository.utf8.count <= 255 else { throw bad("name longer than 255 characters") }
        if tag == nil && digest == nil { tag = "latest" }
        return .registry(registry: registry, repository: repository, tag: tag, digest: digest)
    }

    /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
    static func isTag(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= 128, isAlnum(first) || first == UInt8(ascii: "_") else { return false }
        return bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`: distribution/reference's path component, which is
    /// what registries and podman accept (`a__b` and `a--b` included).
    static func isPathComponent(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last, isLowerAlnum(first), isLowerAlnum(last) else { return false }
        var index = 0
        while index < bytes.count {
            if isLowerAlnum(bytes[index]) { index += 1; continue }
            var end = index
            while end < bytes.count, !isLowerAlnum(bytes[end]) { end += 1 }
            let separator = String(decoding: bytes[index..<end], as: UTF8.self)
            guard separator == "." || separator == "_" || separator == "__" || separator.allSatisfy({ $0 == "-" }) else { return false }
            index = end
        }
        return true
    }

    /// `host[:port]`: DNS labels of letters, digits and inner `-`, separated by dots.
    static func isHost(_ text: String) -> Bool {
        var host = Substring(text)
        if let colon = text.lastIndex(of: ":") {
            let port = text[text.index(after: colon)...]
            guard !port.isEmpty, port.count <= 5, port.utf8.allSatisfy(isDigit), let number = Int(port), number <= 65535 else {
                return false
            }
            host = text[..<colon]
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && labels.allSatisfy { label in
            let bytes = Array(label.utf8)
            guard let first = bytes.first, let last = bytes.last, bytes.count <= 63 else { return false }
            return isAlnum(first) && isAlnum(last) && bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    private static func isLowerAlnum(_ byte: UInt8) -> Bool { isDigit(byte) || (byte >= 0x61 && byte <= 0x7a) }
    private static func isAlnum(_ byte: UInt8) -> Bool { isLowerAlnum(byte) || (byte >= 0x41 && byte <= 0x5a) }
}
