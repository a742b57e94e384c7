import CKiln
import Devices
import NIOCore
import NIOHTTP1
import NIOPosix
import Seccomp
import VMM
#if canImport(Glibc)
import Glibc
#endif

/// The HTTP/1.1 server on the API Unix socket: swift-nio's parser on one event-loop thread
/// (`kiln_api`), which forwards each complete request to the VMM thread and writes the answer.
public final class APIServer: Sendable {
    /// Firecracker's limit on a request body.
    public static let maxBodyBytes = 51_200

    private let group: MultiThreadedEventLoopGroup
    private let socketPath: String

    /// Binds `socketPath` (which must not exist, or be a stale socket: one a killed VMM left),
    /// names the thread, and confines it with the API role's seccomp filter before the first
    /// request is read.
    public init(socketPath: String, channel: RequestChannel, seccomp: Bool) throws(ConfigurationError) {
        // A killed VMM cannot remove its socket; its replacement, started on the same path,
        // takes it over rather than making the caller clean up.
        if StaleSocket.isStale(socketPath) { unlink(socketPath) }
        var info = stat()
        if lstat(socketPath, &info) == 0 {
            throw ConfigurationError("API socket \(socketPath) already exists (another kiln running? remove it first)")
        }
        guard socketPath.utf8.count < 108 else { throw ConfigurationError("API socket path \(socketPath) is longer than 107 bytes") }
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.socketPath = socketPath
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 16)
            // No accept until the thread is named and confined (below): a client that connects
            // the moment the socket appears was served first, and its request, which waits for
            // the VMM thread, deadlocked with the VMM thread waiting for that set-up.
            .serverChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelInitializer { child in
                child.pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
                    .flatMap { child.pipeline.addHandler(APIHTTPHandler(channel: channel)) }
            }
        do {
            let server = try bootstrap.bind(unixDomainSocketPath: socketPath).wait()
            try group.next().submit {
                _ = kiln_set_thread_name("kiln_api")
                ThreadCapabilities.enterThread(.none)
                APIServer.primeHeapShrinkCheck()
                if seccomp { try Seccomp.install(.api) }
            }.wait()
            // Not waited for: accepting can serve a request at once, which needs this thread.
            _ = server.setOption(ChannelOptions.autoRead, value: true)
        } catch {
            try? group.syncShutdownGracefully()
            unlink(socketPath)
            throw ConfigurationError("API socket \(socketPath): \(error)")
        }
    }

    /// glibc opens /proc/sys/vm/overcommit_memory (openat) the first time a thread arena's heap
    /// shrinks, and caches the answer for the process. Under the filter (no open) that first
    /// shrink killed kiln: a request with ~90 KiB of headers grew this thread's arena, and freeing
    /// it was fatal. Growing and shrinking the arena once here, before the filter, does that read.
    static func primeHeapShrinkCheck() {
        // Below the mmap threshold (128 KiB), so they come from this thread's arena; freed from
        // the top down, they merge into the top chunk, which then exceeds the trim threshold.
        let blocks = (0..<8).map { _ in malloc(96 * 1024) }
        for block in blocks.reversed() { free(block) }
    }

    /// Removes the socket file (the process is about to exit).
    public func removeSocket() { unlink(socketPath) }
}

/// Collects one request (head, bounded body), asks the VMM thread, writes the JSON answer.
/// Malformed HTTP and oversized requests get a 400/413 with a fault_message and the connection
/// is closed: after a parse error the stream position is unknown.
final class APIHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let channel: RequestChannel
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(channel: RequestChannel) { self.channel = channel }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(requestHead):
            head = requestHead
            body.removeAll(keepingCapacity: true)
            tooLarge = false
        case var .body(buffer):
            guard !tooLarge else { return }
            if body.count + buffer.readableBytes > APIServer.maxBodyBytes {
                tooLarge = true
                body.removeAll()
            } else {
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
            }
        case .end:
            guard let head else { return }
            self.head = nil
            if tooLarge {
                let response = APIResponse(status: 413, body: .object([("fault_message", .string(
                    "request body larger than \(APIServer.maxBodyBytes) bytes"))]))
                write(response, keepAlive: false, context: context)
            } else {
                let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
                let response = channel.call(APIRequest(method: head.method.rawValue, path: path, body: body))
                // The VMM may exit once this answer is out (RequestChannel.waitUntilDelivered).
                let channel = self.channel
                write(response, keepAlive: head.isKeepAlive, context: context).whenComplete { _ in channel.delivered() }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let message: String
        if let parseError = error as? HTTPParserError {
            message = "malformed HTTP request: \(parseError)"
        } else {
            message = "bad request: \(error)"
        }
        write(.badRequest(message), keepAlive: false, context: context)
    }

    @discardableResult
    private func write(_ response: APIResponse, keepAlive: Bool, context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        let text = response.body?.serialized ?? ""
        var headers = HTTPHeaders()
        headers.add(name: "Server", value: "Kiln API")
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        if !text.isEmpty { headers.add(name: "Content-Type", value: "application/json") }
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !text.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let connection = context.channel
            done.whenComplete { _ in connection.close(promise: nil) }
        }
        return done
    }
}
