/// A double-quoted string with backslash escapes for quotes, backslashes, \n, \r, \t; other
/// control characters as `control(hex)` (JSON's \u00XX, Go %q's \xXX).
enum QuotedText {
    static func append(_ text: String, to out: inout String, control: (String) -> String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += control(String(scalar.value, radix: 16))
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
