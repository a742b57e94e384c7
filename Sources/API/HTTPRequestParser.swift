/// What one complete request on a connection came to.
public enum HTTPParseOutcome: Equatable, Sendable {
    /// A request to hand to the VMM thread; the connection stays open after the answer when
    /// `keepAlive`.
    case request(method: String, path: String, body: [UInt8], keepAlive: Bool)
    /// The body was longer than the limit: read to its end and dropped; answer 413 and close.
    case tooLarge
    /// Not HTTP/1.x as the API takes it: answer 400 with `message` and close (after a framing
    /// error the position in the stream is unknown).
    case malformed(String)
}

/// An HTTP/1.1 request parser for the API socket, fed the bytes of one connection as they
/// arrive. The client is trusted less than root: every length is bounded (the head to 80 KiB,
/// as swift-nio's llhttp did, the body to `maxBodyBytes`, a chunk-size line to 1 KiB), framing
/// that could be read two ways (Content-Length with Transfer-Encoding, two different lengths)
/// is refused, and nothing is buffered beyond one request: a body over the limit is consumed
/// and dropped. Requests follow each other on a keep-alive connection (pipelining): each call
/// returns the next one.
public struct HTTPRequestParser: Sendable {
    public static let maxHeadBytes = 80 * 1024
    public static let maxChunkLineBytes = 1024

    private enum State: Equatable {
        case head
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkEnd
        case trailers(seen: Int)
    }

    public let maxBodyBytes: Int
    private var state = State.head
    /// Bytes after the start already searched for the end of the head (a head that arrives in
    /// pieces is not searched again from its start).
    private var scanned = 0
    private var method = ""
    private var path = ""
    private var keepAlive = true
    private var body: [UInt8] = []
    private var tooLarge = false

    public init(maxBodyBytes: Int) { self.maxBodyBytes = maxBodyBytes }

    /// Reads from `input[start...]`, advancing `start` over what it consumed. nil: the request
    /// is not complete yet (everything given was consumed or is kept for the next call).
    public mutating func next(_ input: [UInt8], start: inout Int) -> HTTPParseOutcome? {
        while true {
            switch state {
            case .head:
                guard let end = Self.find(crlfcrlf, in: input, from: max(start, start + scanned - 3)) else {
                    scanned = input.count - start
                    // The end may still begin in the last 3 bytes: only past that is it too long
                    // whatever comes next (as when the end is there: the outcome must not depend
                    // on how the bytes were split across reads).
                    if scanned - 3 > Self.maxHeadBytes { return .malformed(headTooLong) }
                    return nil
                }
                scanned = 0
                if end - start > Self.maxHeadBytes { return .malformed(headTooLong) }
                let framing: Framing
                switch parseHead(input[start..<end]) {
                case .success(let parsed): framing = parsed
                case .failure(let message): return .malformed("malformed HTTP request: \(message)")
                }
                start = end + 4
                body = []
                tooLarge = false
                switch framing {
                case .length(0): return complete()
                case .length(let length):
                    tooLarge = length > maxBodyBytes
                    state = .body(remaining: length)
                case .chunked: state = .chunkSize
                }
            case .body(let remaining):
                let taken = take(input, start: &start, upTo: remaining)
                if taken < remaining {
                    state = .body(remaining: remaining - taken)
                    return nil
                }
                return complete()
            case .chunkSize:
                guard let end = Self.find(crlf, in: input, from: start) else {
                    // The line is at least this long (its CR may be the last byte here).
                    if input.count - start - 1 > Self.maxChunkLineBytes { return .malformed(chunkLineTooLong) }
                    return nil
                }
                if end - start > Self.maxChunkLineBytes { return .malformed(chunkLineTooLong) }
                guard let size = Self.chunkSize(input[start..<end]) else {
                    return .malformed("malformed HTTP request: invalid chunk size")
                }
                start = end + 2
                if size == 0 {
                    state = .trailers(seen: 0)
                } else {
                    if body.count + size > maxBodyBytes { tooLarge = true; body = [] }
                    state = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                let taken = take(input, start: &start, upTo: remaining)
                if taken < remaining {
                    state = .chunkData(remaining: remaining - taken)
                    return nil
                }
                state = .chunkEnd
            case .chunkEnd:
                guard input.count - start >= 2 else { return nil }
                guard input[start] == cr, input[start + 1] == lf else { return .malformed("malformed HTTP request: chunk not followed by CRLF") }
                start += 2
                state = .chunkSize
            case .trailers(let seen):
                guard let end = Self.find(crlf, in: input, from: start) else {
                    // A line of at least `available - 1` bytes, which cannot be the empty last one.
                    let available = input.count - start
                    if available >= 2 && seen + available + 1 > Self.maxHeadBytes { return .malformed(headTooLong) }
                    return nil
                }
                let line = end - start
                start = end + 2
                if line == 0 { return complete() }
                if seen + line + 2 > Self.maxHeadBytes { return .malformed(headTooLong) }
                state = .trailers(seen: seen + line + 2)  // trailer fields: read and ignored
            }
        }
    }

    private let headTooLong = "malformed HTTP request: header section longer than \(HTTPRequestParser.maxHeadBytes) bytes"
    private let chunkLineTooLong = "malformed HTTP request: chunk size line too long"

    /// Moves up to `count` body bytes (dropped once the body is too large).
    private mutating func take(_ input: [UInt8], start: inout Int, upTo count: Int) -> Int {
        let taken = min(count, input.count - start)
        if !tooLarge {
            if body.count + taken > maxBodyBytes {
                tooLarge = true
                body = []
            } else {
                body.append(contentsOf: input[start..<start + taken])
            }
        }
        start += taken
        return taken
    }

    private mutating func complete() -> HTTPParseOutcome {
        state = .head
        let outcome: HTTPParseOutcome = tooLarge ? .tooLarge : .request(method: method, path: path, body: body, keepAlive: keepAlive)
        body = []
        tooLarge = false
        return outcome
    }

    private enum Framing: Equatable {
        case length(Int)
        case chunked
    }

    private enum HeadResult {
        case success(Framing)
        case failure(String)
    }

    /// The request line and header fields (without the final CRLF CRLF).
    private mutating func parseHead(_ head: ArraySlice<UInt8>) -> HeadResult {
        var lines = Self.lines(head)
        guard !lines.isEmpty else { return .failure("empty request line") }
        let requestLine = lines.removeFirst()
        let parts = requestLine.split(separator: space, maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(Self.isToken),
              !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            return .failure("invalid request line")
        }
        let version = parts[2]
        let http11 = version.elementsEqual("HTTP/1.1".utf8)
        guard http11 || version.elementsEqual("HTTP/1.0".utf8) else { return .failure("unsupported HTTP version") }
        method = String(decoding: parts[0], as: UTF8.self)
        let target = parts[1]
        path = String(decoding: target.prefix { $0 != UInt8(ascii: "?") }, as: UTF8.self)

        var length: Int?
        var chunked = false
        var close = false
        var keepAliveToken = false
        for line in lines {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                return .failure(line.first == space || line.first == tab ? "folded header line" : "header line without a colon")
            }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(Self.isToken) else { return .failure("invalid header name") }
            let value = Self.trimmed(line[(colon + 1)...])
            guard value.allSatisfy({ $0 == tab || $0 >= 0x20 && $0 != 0x7f }) else { return .failure("control character in header \(String(decoding: name, as: UTF8.self))") }
            if Self.equalsIgnoringCase(name, "content-length") {
                guard let parsed = Self.decimal(value), length == nil || length == parsed else { return .failure("invalid Content-Length header") }
                length = parsed
            } else if Self.equalsIgnoringCase(name, "transfer-encoding") {
                guard Self.equalsIgnoringCase(value, "chunked"), !chunked else { return .failure("unsupported Transfer-Encoding header") }
                chunked = true
            } else if Self.equalsIgnoringCase(name, "connection") {
                for token in value.split(separator: UInt8(ascii: ",")) {
                    let option = Self.trimmed(token)
                    if Self.equalsIgnoringCase(option, "close") { close = true }
                    if Self.equalsIgnoringCase(option, "keep-alive") { keepAliveToken = true }
                }
            }
        }
        if chunked && length != nil { return .failure("both Content-Length and Transfer-Encoding headers") }
        keepAlive = !close && (http11 || keepAliveToken)
        return .success(chunked ? .chunked : .length(length ?? 0))
    }

    private static func lines(_ head: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var lineStart = head.startIndex
        while let end = find(crlf, in: head, from: lineStart) {
            result.append(head[lineStart..<end])
            lineStart = end + 2
        }
        result.append(head[lineStart...])
        return result
    }

    /// The index of `needle` in `bytes[from...]`, if there.
    private static func find<C: RandomAccessCollection<UInt8>>(_ needle: [UInt8], in bytes: C, from: C.Index) -> C.Index?
        where C.Index == Int {
        guard bytes.endIndex - from >= needle.count else { return nil }
        var index = Swift.max(from, bytes.startIndex)
        let last = bytes.endIndex - needle.count
        while index <= last {
            if bytes[index] == needle[0] {
                var matched = 1
                while matched < needle.count && bytes[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return index }
            }
            index += 1
        }
        return nil
    }

    /// A chunk-size line: hex digits, then optional `;extensions` (ignored).
    private static func chunkSize(_ line: ArraySlice<UInt8>) -> Int? {
        let digits = trimmed(line.prefix { $0 != UInt8(ascii: ";") })
        guard !digits.isEmpty, digits.count <= 12 else { return nil }
        var value = 0
        for byte in digits {
            guard let digit = hexValue(byte) else { return nil }
            value = value * 16 + digit
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A")) + 10
        default: nil
        }
    }

    /// Decimal digits only, at most 15 of them (no overflow, no sign, no spaces inside).
    private static func decimal(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 15 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == space || first == tab { slice.removeFirst() }
        while let last = slice.last, last == space || last == tab { slice.removeLast() }
        return slice
    }

    private static func equalsIgnoringCase(_ bytes: ArraySlice<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { byte, want in
                (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte) == want
            }
        }
    }

    /// RFC 9110 token characters (method, header name).
    private static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")
private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")
private let crlf: [UInt8] = [cr, lf]
private let crlfcrlf: [UInt8] = [cr, lf, cr, lf]
