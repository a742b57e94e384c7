import API

/// The API socket's HTTP/1.1 parser on a byte stream from the input, fed in pieces whose size
/// the first byte picks: the outcomes must be those of the whole stream at once (a request
/// never depends on how the client's bytes were split across reads), bodies stay within the
/// limit, and the bytes kept between reads stay bounded.
let httpTarget = FuzzTarget(name: "http", guestFacing: false, run: { bytes in
    guard let first = bytes.first else { return }
    let stream = Array(bytes.dropFirst())
    let limit = 64  // small, so inputs reach it
    let whole = httpOutcomes(stream, piece: stream.count, limit: limit)
    let piece = Int(first % 64) + 1
    precondition(httpOutcomes(stream, piece: piece, limit: limit) == whole, "outcomes depend on the split (piece \(piece))")
}, seeds: {
    [
        Array("\u{3}PUT /machine-config HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.0\r\n\r\n".utf8),
        Array("\u{0}PUT /vm HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;x\r\nabcd\r\n0\r\nT: y\r\n\r\n".utf8),
        Array("\u{7}GET / HTTP/1.1\r\nConnection: keep-alive, close\r\nX: y\r\n\r\n".utf8),
    ]
})

/// Every outcome of `stream` fed `piece` bytes at a time as APIConnection does, up to the first
/// that ends the connection.
private func httpOutcomes(_ stream: [UInt8], piece: Int, limit: Int) -> [HTTPParseOutcome] {
    var parser = HTTPRequestParser(maxBodyBytes: limit)
    var input: [UInt8] = []
    var outcomes: [HTTPParseOutcome] = []
    var offset = 0
    while offset < stream.count {
        let end = offset + min(max(piece, 1), stream.count - offset)
        input += stream[offset..<end]
        offset = end
        var start = 0
        while let outcome = parser.next(input, start: &start) {
            outcomes.append(outcome)
            guard case let .request(_, _, body, keepAlive) = outcome else { return outcomes }
            precondition(body.count <= limit, "a body over the limit came through")
            if !keepAlive { return outcomes }
        }
        input.removeFirst(start)
        precondition(input.count <= HTTPRequestParser.maxHeadBytes + 3, "\(input.count) bytes kept between reads")
    }
    return outcomes
}
