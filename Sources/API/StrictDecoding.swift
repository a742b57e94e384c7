/// Firecracker rejects unknown fields in its JSON bodies (serde's deny_unknown_fields); so does
/// Kiln, so a misspelt field is an error instead of a silently ignored setting.
struct AnyKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// Throws if the object being decoded has a key outside `allowed`.
    func rejectUnknownKeys(_ allowed: Set<String>, in object: String) throws {
        let container = try container(keyedBy: AnyKey.self)
        for key in container.allKeys where !allowed.contains(key.stringValue) {
            throw ConfigurationError("unknown field '\(key.stringValue)' in \(object)")
        }
    }
}

/// A configuration problem, as one line naming it.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
