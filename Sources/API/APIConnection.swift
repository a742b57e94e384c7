import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// One client connection on the API socket (non-blocking), owned by the API thread: the bytes
/// read and not yet parsed, the answer not yet written, and whether it ends after that answer.
/// One request at a time: while an answer waits for the client to read it, nothing more is read
/// (pipelined requests wait in the kernel's buffer, so a client cannot make kiln queue answers).
final class APIConnection {
    let fd: Int32
    private let channel: RequestChannel
    private var input: [UInt8] = []
    private var output: [UInt8] = []
    private var written = 0
    private var parser = HTTPRequestParser(maxBodyBytes: APIServer.maxBodyBytes)
    /// No more requests: close once `output` is out.
    private(set) var closing = false
    /// Something went wrong on the socket, or the connection is done: the server closes it.
    private(set) var finished = false
    /// The server's event count when this connection last had something happen.
    var lastActive: UInt64 = 0
    /// `output` holds an answer the VMM thread gave (RequestChannel.delivered once it is out).
    private var awaitingDelivery = false

    init(fd: Int32, channel: RequestChannel) {
        self.fd = fd
        self.channel = channel
    }

    /// The server closes the connection: an answer still unwritten will never be.
    func close() {
        if awaitingDelivery { awaitingDelivery = false; channel.delivered() }
        _ = Glibc.close(fd)
    }

    /// Whether the server should wait for the socket to become writable rather than readable.
    var wantsWrite: Bool { written < output.count }

    /// The socket is readable (or hung up): reads what is there, answers every complete request.
    /// `scratch` is the API thread's read buffer. At most four reads per wake-up (as swift-nio's
    /// default), so that a client streaming a large body does not hold up the other connections:
    /// epoll is level-triggered and reports the rest again.
    func readable(_ scratch: UnsafeMutableRawBufferPointer) {
        var reads = 0
        while !finished && !closing && !wantsWrite && reads < 4 {
            reads += 1
            let count = read(fd, scratch.baseAddress, scratch.count)
            if count < 0 {
                if errno == EINTR { continue }
                if errno != EAGAIN && errno != EWOULDBLOCK { finished = true }
                return
            }
            if count == 0 {
                // The client is gone (or half-closed): an unfinished request is dropped.
                finished = true
                return
            }
            input.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
            answerRequests()
            if count < scratch.count { return }
        }
    }

    /// The socket is writable: writes the rest of the answer, then goes on with pipelined
    /// requests already read.
    func writable() {
        flush()
        if !wantsWrite && !finished { answerRequests() }
    }

    private func answerRequests() {
        var start = 0
        while !closing && !wantsWrite && !finished, let outcome = parser.next(input, start: &start) {
            switch outcome {
            case let .request(method, path, body, keepAlive):
                let response = channel.call(APIRequest(method: method, path: path, body: body))
                if !keepAlive { closing = true }
                awaitingDelivery = true
                send(HTTPResponseText.bytes(response, keepAlive: keepAlive))
            case .tooLarge:
                closing = true
                send(HTTPResponseText.bytes(APIResponse(status: 413, body: .object([("fault_message", .string(
                    "request body larger than \(APIServer.maxBodyBytes) bytes"))])), keepAlive: false))
            case .malformed(let message):
                closing = true
                send(HTTPResponseText.bytes(.badRequest(message), keepAlive: false))
            }
        }
        if start > 0 { input.removeFirst(start) }
        if closing && !wantsWrite { finished = true }
    }

    private func send(_ bytes: [UInt8]) {
        output = bytes
        written = 0
        flush()
    }

    private func flush() {
        while written < output.count {
            let count = output.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                // EAGAIN: the client is not reading; the server waits for EPOLLOUT.
                if errno != EAGAIN && errno != EWOULDBLOCK { finished = true }
                return
            }
            written += count
        }
        output = []
        written = 0
        if awaitingDelivery { awaitingDelivery = false; channel.delivered() }
        if closing { finished = true }
    }
}
