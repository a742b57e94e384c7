import CKiln
import Devices
import Synchronization
import Testing
@testable import VMM
#if canImport(Glibc)
import Glibc
#endif

/// Each drive is served on a loop of its own (issue 16, point 2: a disk that waits holds only
/// its drive), and a snapshot's save still sees every loop between two handlers.
@Suite struct DeviceLoopsTests {
    @Test func everyDriveHasItsOwnLoopAndEverythingElseShares() throws {
        let loops = try DeviceLoops(driveCount: 2)
        let drive = Block(backend: EmptyDisk(), serial: "d")
        let first = loops.loop(for: .block(drive), driveIndex: 0)
        let second = loops.loop(for: .block(drive), driveIndex: 1)
        #expect(first !== second && first !== loops.shared && second !== loops.shared)
        #expect(loops.loop(for: .rng(Rng()), driveIndex: 2) === loops.shared)
    }

    /// With three loops running on their threads and their handlers kept busy, the closure never
    /// overlaps a handler of any of them.
    @Test func quiesceHoldsEveryLoop() throws {
        let loops = try DeviceLoops(driveCount: 2)
        let all = [loops.shared] + loops.drives
        let inHandler = Atomic<Int>(0)
        let handled = Atomic<Int>(0)
        var feeds: [Int32] = []
        defer { feeds.forEach { close($0) } }
        for loop in all {
            let feed = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
            feeds.append(feed)
            try loop.add(feed, events: KILN_EPOLLIN) { _ in
                inHandler.wrappingAdd(1, ordering: .sequentiallyConsistent)
                var value: UInt64 = 0
                _ = kiln_eventfd_consume(feed, &value)
                usleep(200)
                handled.wrappingAdd(1, ordering: .relaxed)
                inHandler.wrappingSubtract(1, ordering: .sequentiallyConsistent)
            }
        }
        var threads: [NativeThread] = []
        for (index, loop) in all.enumerated() {
            threads.append(try NativeThread.spawn(name: "loops_test\(index)") { loop.run() })
        }
        let stopFeeding = Atomic<Bool>(false)
        let fds = feeds
        let feeder = try NativeThread.spawn(name: "loops_feed") {
            while !stopFeeding.load(ordering: .relaxed) {
                for fd in fds { _ = kiln_eventfd_signal(fd) }
                usleep(100)
            }
        }
        while handled.load(ordering: .relaxed) < 15 { usleep(1000) }
        for _ in 0..<20 {
            let overlapped = loops.quiesce { () -> Bool in
                // Long enough for a loop left running to take its next event meanwhile.
                for _ in 0..<5 {
                    if inHandler.load(ordering: .sequentiallyConsistent) != 0 { return true }
                    usleep(300)
                }
                return false
            }
            #expect(!overlapped)
        }
        stopFeeding.store(true, ordering: .relaxed)
        feeder.join()
        loops.stop()
        threads.forEach { $0.join() }
    }
}

private final class EmptyDisk: BlockBackend {
    let size: UInt64 = 8 * 512
    let isReadOnly = true
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(BlockIOError) {}
    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(BlockIOError) {}
    func flush() throws(BlockIOError) {}
}
