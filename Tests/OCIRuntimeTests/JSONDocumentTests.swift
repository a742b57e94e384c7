@testable import OCIRuntime
import Testing

@Suite struct JSONDocumentTests {
    func parse(_ text: String) throws(JSONDocument.SyntaxError) -> JSONDocument { try JSONDocument.parse(Array(text.utf8)) }

    @Test func readsEveryKind() throws {
        let value = try parse(#" {"a": [1, -2.5e3, true, false, null], "b": "x\"\\\/\n\u00e9\ud83d\ude00"} "#)
        #expect(value == .object(["a": .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]),
                                  "b": .string("x\"\\/\né😀")]))
    }

    @Test func refusesWhatRFC8259Does() {
        for text in ["", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "+1", "'a'", "{a:1}", "[1 2]", "nul", "\"\u{01}\"",
                     "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "{} {}", "NaN", "[1]x", "\"abc"] {
            #expect(throws: JSONDocument.SyntaxError.self, "\(text)") { try parse(text) }
        }
    }

    @Test func refusesDuplicateMembers() {
        #expect(throws: JSONDocument.SyntaxError(offset: 9, problem: "duplicate member \"a\"")) { try parse(#"{"a": 1, "a": 2}"#) }
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: JSONDocument.SyntaxError.self) { try JSONDocument.parse([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test func boundsNesting() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONDocument.SyntaxError.self) { try parse(deep) }
        let fine = String(repeating: "[", count: JSONDocument.maximumDepth) + String(repeating: "]", count: JSONDocument.maximumDepth)
        _ = try parse(fine)
    }

    @Test func outputEscapesAndIndents() {
        let value = JSONOutput.object([("a", .string("q\"\n\u{1}")), ("b", .array([.int(1), .bool(true)])), ("c", .object([]))])
        #expect(value.serialized() == #"{"a":"q\"\n\u0001","b":[1,true],"c":{}}"#)
        #expect(value.serialized(indented: true) == "{\n  \"a\": \"q\\\"\\n\\u0001\",\n  \"b\": [\n    1,\n    true\n  ],\n  \"c\": {}\n}")
    }
}
