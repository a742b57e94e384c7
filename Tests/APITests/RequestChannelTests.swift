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

    @Test func serveTimesOutWithoutARequest() throws {
        let channel = try RequestChannel()
        var called = false
        channel.serve(waitingUpTo: 20) { _ in called = true; return .noContent }
        #expect(!called)
    }
}
