/// Typed reads of one JSON object's members, each error naming the member's full path. Unknown
/// members are left alone: the OCI spec lets writers add fields (podman writes seccomp profiles,
/// masked paths...), and a runtime ignores what it does not implement.
struct JSONFields {
    let path: String
    let members: [String: JSONDocument]

    init(path: String, _ value: JSONDocument) throws(OCIConfigError) {
        guard case .object(let members) = value else {
            throw .wrongType(field: path.isEmpty ? "(document)" : path, expected: "an object", found: value.typeName)
        }
        self.path = path
        self.members = members
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The member, nil when absent or null (OCI writers emit `null` for empty optionals).
    func value(_ key: String) -> JSONDocument? {
        guard let value = members[key], value != .null else { return nil }
        return value
    }

    func object(_ key: String) throws(OCIConfigError) -> JSONFields? {
        guard let value = value(key) else { return nil }
        return try JSONFields(path: name(key), value)
    }

    func string(_ key: String) throws(OCIConfigError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw .wrongType(field: name(key), expected: "a string", found: value.typeName) }
        return text
    }

    func requiredString(_ key: String) throws(OCIConfigError) -> String {
        guard let text = try string(key) else { throw .missing(field: name(key)) }
        return text
    }

    func bool(_ key: String) throws(OCIConfigError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw .wrongType(field: name(key), expected: "a boolean", found: value.typeName) }
        return flag
    }

    func array(_ key: String) throws(OCIConfigError) -> [JSONDocument]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else { throw .wrongType(field: name(key), expected: "an array", found: value.typeName) }
        return items
    }

    func strings(_ key: String, limit: Int) throws(OCIConfigError) -> [String]? {
        guard let items = try array(key) else { return nil }
        guard items.count <= limit else { throw .invalid(field: name(key), problem: "more than \(limit) entries") }
        var texts: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let text) = item else {
                throw .wrongType(field: "\(name(key))[\(index)]", expected: "a string", found: item.typeName)
            }
            texts.append(text)
        }
        return texts
    }

    func stringMap(_ key: String) throws(OCIConfigError) -> [String: String]? {
        guard let object = try self.object(key) else { return nil }
        var map: [String: String] = [:]
        for (member, value) in object.members {
            guard case .string(let text) = value else {
                throw .wrongType(field: object.name(member), expected: "a string", found: value.typeName)
            }
            map[member] = text
        }
        return map
    }

    /// An integer in `range`; fractions, exponents and values outside it are errors.
    func integer(_ key: String, in range: ClosedRange<Int64>) throws(OCIConfigError) -> Int64? {
        guard let value = value(key) else { return nil }
        return try Self.integer(value, field: name(key), in: range)
    }

    static func integer(_ value: JSONDocument, field: String, in range: ClosedRange<Int64>) throws(OCIConfigError) -> Int64 {
        guard case .number(let text) = value else { throw .wrongType(field: field, expected: "an integer", found: value.typeName) }
        guard let number = Int64(text) else {
            if text.contains(".") || text.contains("e") || text.contains("E") {
                throw .wrongType(field: field, expected: "an integer", found: "\(text)")
            }
            throw .invalid(field: field, problem: "\(text) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        guard range.contains(number) else {
            throw .invalid(field: field, problem: "\(text) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// An unsigned 64-bit integer (rlimits and cpu periods use the whole range).
    func unsigned(_ key: String) throws(OCIConfigError) -> UInt64? {
        guard let value = value(key) else { return nil }
        guard case .number(let text) = value else { throw .wrongType(field: name(key), expected: "an integer", found: value.typeName) }
        guard let number = UInt64(text) else {
            throw .invalid(field: name(key), problem: "\(text) is not an integer in 0...\(UInt64.max)")
        }
        return number
    }
}
