@testable import API
import Testing

/// The API socket's HTTP/1.1 parser: framing, limits and refusals, and the same outcomes
/// however the bytes are split across reads.
@Suite struct HTTPRequestParserTests {
    /// Every outcome of `stream`, fed `piece` bytes at a time the way APIConnection feeds it
    /// (consumed bytes removed after each call), up to the first one that ends the connection.
    static func outcomes(_ stream: String, piece: Int = Int.max, limit: Int = APIServer.maxBodyBytes) -> [HTTPParseOutcome] {
        outcomes(Array(stream.utf8), piece: piece, limit: limit)
    }

    static func outcomes(_ stream: [UInt8], piece: Int = Int.max, limit: Int = APIServer.maxBodyBytes) -> [HTTPParseOutcome] {
        var parser = HTTPRequestParser(maxBodyBytes: limit)
        var input: [UInt8] = []
        var result: [HTTPParseOutcome] = []
        var offset = 0
        while offset < stream.count {
            let end = offset + min(piece, stream.count - offset)
            input += stream[offset..<end]
            offset = end
            var start = 0
            while let outcome = parser.next(input, start: &start) {
                result.append(outcome)
                if case .request(_, _, _, true) = outcome { continue }
                return result
            }
            input.removeFirst(start)
        }
        return result
    }

    static func request(_ method: String, _ path: String, _ body: String = "", keepAlive: Bool = true) -> HTTPParseOutcome {
        .request(method: method, path: path, body: Array(body.utf8), keepAlive: keepAlive)
    }

    static func isMalformed(_ outcomes: [HTTPParseOutcome], naming word: String) -> Bool {
        guard case .malformed(let message) = outcomes.last else { return false }
        return message.contains("malformed") && message.lowercased().contains(word.lowercased())
    }

    @Test func aRequestWithABodyInAnySplit() {
        let stream = "PUT /machine-config?x=1 HTTP/1.1\r\nHost: x\r\ncontent-length: 11\r\n\r\n{\"a\": true}"
        for piece in [1, 2, 3, 7, 64, Int.max] {
            #expect(Self.outcomes(stream, piece: piece) == [Self.request("PUT", "/machine-config", "{\"a\": true}")], "piece \(piece)")
        }
    }

    @Test func keepAliveFollowsTheVersionAndTheConnectionHeader() {
        #expect(Self.outcomes("GET / HTTP/1.1\r\nConnection: close\r\n\r\n") == [Self.request("GET", "/", keepAlive: false)])
        #expect(Self.outcomes("GET / HTTP/1.0\r\n\r\n") == [Self.request("GET", "/", keepAlive: false)])
        #expect(Self.outcomes("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") == [Self.request("GET", "/")])
        #expect(Self.outcomes("GET / HTTP/1.1\r\nConnection: upgrade, CLOSE\r\n\r\n") == [Self.request("GET", "/", keepAlive: false)])
    }

    @Test func pipelinedRequestsComeOutInOrder() {
        let stream = "GET /version HTTP/1.1\r\n\r\nPUT /vm HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /x HTTP/1.1\r\nConnection: close\r\n\r\n"
        let expected = [Self.request("GET", "/version"), Self.request("PUT", "/vm", "{}"), Self.request("GET", "/x", keepAlive: false)]
        for piece in [1, 5, Int.max] {
            #expect(Self.outcomes(stream, piece: piece) == expected, "piece \(piece)")
        }
    }

    @Test func chunkedBodiesWithExtensionsAndTrailers() {
        let stream = "PUT /vm HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n4;ext=1\r\n{\"st\r\nB\r\nate\": \"Pa\"}\r\n0\r\nX-Trailer: y\r\n\r\n"
        for piece in [1, 3, Int.max] {
            #expect(Self.outcomes(stream, piece: piece) == [Self.request("PUT", "/vm", "{\"state\": \"Pa\"}")], "piece \(piece)")
        }
    }

    @Test func theBodyLimitIsInclusiveAndALargerBodyIsReadToItsEnd() {
        let limit = 16
        let atLimit = "PUT / HTTP/1.1\r\nContent-Length: 16\r\n\r\n" + String(repeating: "x", count: 16)
        #expect(Self.outcomes(atLimit, limit: limit) == [Self.request("PUT", "/", String(repeating: "x", count: 16))])
        // The whole oversized body is consumed before the 413: the next bytes would be a request.
        var parser = HTTPRequestParser(maxBodyBytes: limit)
        let over = Array(("PUT / HTTP/1.1\r\nContent-Length: 17\r\n\r\n" + String(repeating: "x", count: 17) + "GET").utf8)
        var start = 0
        #expect(parser.next(over, start: &start) == .tooLarge)
        #expect(start == over.count - 3)
        let chunked = "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nxxxxxxxxx\r\n9\r\nxxxxxxxxx\r\n0\r\n\r\n"
        for piece in [1, Int.max] {
            #expect(Self.outcomes(chunked, piece: piece, limit: limit) == [.tooLarge])
        }
    }

    @Test func aHeadOverTheLimitIsRefusedWithoutWaitingForItsEnd() {
        let stream = "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 90 * 1024)
        #expect(Self.isMalformed(Self.outcomes(stream, piece: 4096), naming: "header"))
    }

    @Test func badFramingIsRefused() {
        let cases: [(String, String)] = [
            ("THIS IS NOT HTTP\r\n\r\n", "request line"),
            ("GET / HTTP/7.5\r\n\r\n", "version"),
            ("GET  / HTTP/1.1\r\n\r\n", "request line"),
            ("GET / HTTP/1.1\r\nBad Header\r\n\r\n", "header"),
            ("GET / HTTP/1.1\r\nX: y\r\n folded\r\n\r\n", "header"),
            ("GET / HTTP/1.1\r\nBad Name: y\r\n\r\n", "header"),
            ("GET / HTTP/1.1\r\nX: a\u{1}b\r\n\r\n", "header"),
            ("PUT / HTTP/1.1\r\nContent-Length: ten\r\n\r\n{}", "content-length"),
            ("PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "content-length"),
            ("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", "content-length"),
            ("PUT / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", "content-length"),
            ("PUT / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}", "transfer-encoding"),
            ("PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "transfer-encoding"),
            ("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk"),
            ("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX", "chunk"),
        ]
        for (stream, word) in cases {
            for piece in [1, Int.max] {
                #expect(Self.isMalformed(Self.outcomes(stream, piece: piece), naming: word), "\(stream.debugDescription) piece \(piece)")
            }
        }
    }

    @Test func anUnfinishedRequestWaitsAndKeepsOnlyBoundedInput() {
        var parser = HTTPRequestParser(maxBodyBytes: 16)
        let partial = Array("PUT / HTTP/1.1\r\nContent-Length: 100000\r\n\r\nxx".utf8)
        var start = 0
        #expect(parser.next(partial, start: &start) == nil)
        #expect(start == partial.count)  // body bytes over the limit are consumed, not kept
        let chunkLine = Array(repeating: UInt8(ascii: "1"), count: HTTPRequestParser.maxChunkLineBytes + 2)
        var chunked = HTTPRequestParser(maxBodyBytes: 16)
        let head = Array("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        start = 0
        #expect(chunked.next(head + chunkLine, start: &start) == .malformed("malformed HTTP request: chunk size line too long"))
    }
}
