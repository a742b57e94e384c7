@testable import API
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct RequestChannelTests {
    /// The HTTP thread blocks in `call` until the VMM thread's `serve` answered that very request.
    @Test func requestsCrossThreadsInOrder() throws {
        let channel = try RequestChannel()
        final class Box: @unchecked Sendable { var responses: [APIResponse] = [] }
        let box = Box()
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Context(channel: channel, box: box)).toOpaque()
        final class Context { let channel: RequestChannel; let box: Box
            init(channel: RequestChannel, box: Box) { self.channel = channel; self.box = box } }
        pthread_create(&thread, nil, { raw in
            let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            for index in 0..<50 {
                context.box.responses.append(context.channel.call(APIRequest(method: "GET", path: "/\(index)")))
            }
            return nil
        }, context)
        var served = 0
        while served < 50 {
            channel.serve(waitingUpTo: 1000) { request in
                served += 1
                return .ok(.string(request.path))
            }
        }
        pthread_join(thread, nil)
        #expect(box.responses.map { $0.body } == (0..<50).map { .string("/\($0)") })
    }

    /// A VMM must not exit between answering the request that ended its VM and the HTTP
    /// thread writing that answer (the client saw the connection close with no status).
    @Test func exitWaitsUntilTheLastAnswerIsDelivered() throws {
        let channel = try RequestChannel()
        #expect(channel.waitUntilDelivered(upTo: 0), "nothing answered, nothing to wait for")
        var release: [Int32] = [-1, -1]
        #expect(pipe(&release) == 0)
        defer { close(release[0]); close(release[1]) }
        final class Context { let channel: RequestChannel; let release: Int32
            init(channel: RequestChannel, release: Int32) { self.channel = channel; self.release = release } }
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            _ = context.channel.call(APIRequest(method: "PUT", path: "/actions"))
            var byte: UInt8 = 0
            _ = read(context.release, &byte, 1)       // the answer is "being written" until then
            context.channel.delivered()
            return nil
        }, Unmanaged.passRetained(Context(channel: channel, release: release[0])).toOpaque())
        var served = false
        while !served {
            channel.serve(waitingUpTo: 1000) { _ in served = true; return .noContent }
        }
        #expect(!channel.waitUntilDelivered(upTo: 20), "answered but not yet written: the exit must wait")
        var byte: UInt8 = 1
        _ = write(release[1], &byte, 1)
        #expect(channel.waitUntilDelivered(upTo: 10_000))
        pthread_join(thread, nil)
        channel.delivered()     // a delivery with no answer outstanding (a 413) counts nothing
        #expect(channel.waitUntilDelivered(upTo: 0))
    }

    @Test func serveTimesOutWithoutARequest() throws {
        let channel = try RequestChannel()
        var called = false
        channel.serve(waitingUpTo: 20) { _ in called = true; return .noContent }
        #expect(!called)
    }
}
