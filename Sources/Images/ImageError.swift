import Glibc

/// Everything that can go wrong with an image reference, a pull or the store; each description is
/// one line naming the reference (or path) and the problem.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidReference(String, problem: String)
    /// skopeo failed (unreachable registry, unknown image, auth...): its error condensed to one line.
    case fetchFailed(reference: String, problem: String)
    case missingTag(reference: String, tag: String)
    case unknownMediaType(reference: String, mediaType: String)
    case digestMismatch(reference: String, expected: Digest, actual: Digest)
    case truncatedBlob(reference: String, digest: Digest, size: Int64, expected: Int64)
    case badLayout(reference: String, problem: String)
    case conversionFailed(reference: String, problem: String)
    case notInStore(reference: String)
    case badUser(spec: String, problem: String)
    case system(operation: String, path: String, errno: Int32)
    /// A pull into a store this user may only read (a system-wide one, as a user).
    case storeNotWritable(root: String, errno: Int32)

    public var description: String {
        switch self {
        case .invalidReference(let text, let problem):
            return "invalid image reference \(quoted(text)): \(problem)"
        case .fetchFailed(let reference, let problem):
            return "pull \(reference): \(problem)"
        case .missingTag(let reference, let tag):
            return "pull \(reference): the image has no tag \(quoted(tag))"
        case .unknownMediaType(let reference, let mediaType):
            return "pull \(reference): unsupported media type \(quoted(mediaType))"
        case .digestMismatch(let reference, let expected, let actual):
            return "pull \(reference): blob \(expected) has digest \(actual) (deleted; pull again)"
        case .truncatedBlob(let reference, let digest, let size, let expected):
            return "pull \(reference): blob \(digest) has \(size) bytes, expected \(expected) (deleted; pull again)"
        case .badLayout(let reference, let problem):
            return "pull \(reference): \(problem)"
        case .conversionFailed(let reference, let problem):
            return "convert \(reference): \(problem)"
        case .notInStore(let reference):
            return "no image \(reference) in the store"
        case .badUser(let spec, let problem):
            return "user \(quoted(spec)): \(problem)"
        case .system(let operation, let path, let code):
            return "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))"
        case .storeNotWritable(let root, let code):
            return "the image store \(root) is not writable here (\(String(cString: strerror(code)))): pull as its owner, or point KILN_IMAGE_STORE or XDG_DATA_HOME at a store of your own"
        }
    }

    static func system(_ operation: String, _ path: String) -> ImageError {
        .system(operation: operation, path: path, errno: errno)
    }
}

/// Quotes text for an error line, with control characters escaped so it stays one line.
func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20 || scalar.value == 0x7f: out += "\\u{\(String(scalar.value, radix: 16))}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
