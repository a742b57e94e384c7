import CKiln
import Synchronization
import Testing
@testable import VMM
#if canImport(Glibc)
import Glibc
#endif

@Suite struct EventLoopQuiesceTests {
    @Test func runsAtOnceWhenTheLoopIsNotRunning() throws {
        let loop = try EventLoop()
        #expect(loop.quiesce { 42 } == 42)
    }

    /// The closure runs on the loop's thread and never while a handler runs, however busy the
    /// loop is; after the loop ended it runs on the caller's thread again.
    @Test func runsOnTheLoopThreadBetweenHandlers() throws {
        let loop = try EventLoop()
        let busy = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        defer { close(busy) }
        let inHandler = Atomic<Bool>(false)
        let handled = Atomic<Int>(0)
        try loop.add(busy, events: KILN_EPOLLIN) { _ in
            inHandler.store(true, ordering: .sequentiallyConsistent)
            var value: UInt64 = 0
            _ = kiln_eventfd_consume(busy, &value)
            usleep(200)
            handled.wrappingAdd(1, ordering: .relaxed)
            inHandler.store(false, ordering: .sequentiallyConsistent)
        }
        let loopThread = Atomic<UInt>(0)
        let thread = try NativeThread.spawn(name: "quiesce_test") {
            loopThread.store(UInt(pthread_self()), ordering: .releasing)
            loop.run()
        }
        let stopFeeding = Atomic<Bool>(false)
        let feeder = try NativeThread.spawn(name: "quiesce_feed") {
            while !stopFeeding.load(ordering: .relaxed) {
                _ = kiln_eventfd_signal(busy)
                usleep(100)
            }
        }
        while handled.load(ordering: .relaxed) < 5 { usleep(1000) }
        for _ in 0..<20 {
            let (thread, overlapped) = loop.quiesce { (UInt(pthread_self()), inHandler.load(ordering: .sequentiallyConsistent)) }
            #expect(thread == loopThread.load(ordering: .acquiring))
            #expect(!overlapped)
        }
        stopFeeding.store(true, ordering: .relaxed)
        feeder.join()
        loop.stop()
        thread.join()
        #expect(loop.quiesce { UInt(pthread_self()) } == UInt(pthread_self()))
    }
}
