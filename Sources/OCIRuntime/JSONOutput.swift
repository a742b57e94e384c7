/// JSON kiln-oci prints (state, features, ps, log lines): members in the order given, so the
/// output reads like runc's. Strings are escaped per RFC 8259.
public indirect enum JSONOutput: Sendable {
    case object([(String, JSONOutput)])
    case array([JSONOutput])
    case string(String)
    case int(Int64)
    case bool(Bool)
    case null

    /// One line (log records), or indented by two spaces as runc's `state` prints.
    public func serialized(indented: Bool = false) -> String {
        var out = ""
        write(to: &out, indent: indented ? 0 : nil)
        return out
    }

    private func write(to out: inout String, indent: Int?) {
        let pad = indent.map { "\n" + String(repeating: "  ", count: $0 + 1) } ?? ""
        let closePad = indent.map { "\n" + String(repeating: "  ", count: $0) } ?? ""
        let inner = indent.map { $0 + 1 }
        switch self {
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                out += (index > 0 ? "," : "") + pad
                Self.escape(key, to: &out)
                out += indent == nil ? ":" : ": "
                value.write(to: &out, indent: inner)
            }
            out += closePad + "}"
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "["
            for (index, item) in items.enumerated() {
                out += (index > 0 ? "," : "") + pad
                item.write(to: &out, indent: inner)
            }
            out += closePad + "]"
        case .string(let text): Self.escape(text, to: &out)
        case .int(let value): out += String(value)
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        }
    }

    static func escape(_ text: String, to out: inout String) {
        QuotedText.append(text, to: &out) { hex in "\\u" + String(repeating: "0", count: 4 - hex.count) + hex }
    }

    /// A string map with its keys sorted (Go's encoding/json order, as runc prints annotations).
    public static func map(_ map: [String: String]) -> JSONOutput {
        .object(map.keys.sorted().map { ($0, .string(map[$0]!)) })
    }
}
