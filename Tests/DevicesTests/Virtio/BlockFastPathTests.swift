import Devices
import GuestMemory
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif


/// The async engine's fast path: a read or write is first tried without blocking on the device
/// thread (preadv2/pwritev2 with RWF_NOWAIT); what that cannot move goes to io_uring. Most
/// tests put a FIFO under the ring, so a request that reached the ring visibly stalls until the
/// test feeds it, and a scripted fast path decides what "the page cache" holds.
@Suite struct BlockFastPathTests {
    let image = TemporaryFile(contents: diskPattern(2048 * 512))

    private func scripted(_ script: [ScriptedImmediateBackend.Step]) -> (ScriptedImmediateBackend, StalledDisk) {
        let disk = StalledDisk()
        return (ScriptedImmediateBackend(disk.backend, script: script), disk)
    }

    private func scriptedFile(_ script: [ScriptedImmediateBackend.Step]) throws -> ScriptedImmediateBackend {
        ScriptedImmediateBackend(try FileBlockBackend(path: image.path, readOnly: false), script: script)
    }

    /// A hit is answered in the pass that took it from the queue: no submission (the FIFO under
    /// the ring would have stalled it), nothing left in flight, metrics counted.
    @Test func aPageCacheHitIsAnsweredWithoutTheRing() {
        let (backend, _) = scripted([.cached(fill: 0xC5, count: nil), .cached(fill: 0, count: nil)])
        let bench = BlockBench(backend: backend, engine: .async)
        let (data, status) = bench.submitRead(sector: 2, sectors: 2)
        bench.queue.notify()
        #expect(bench.queue.takeUsed() == [UsedElement(id: 0, length: 1025)])
        #expect(bench.driver.bytes(of: data) == [UInt8](repeating: 0xC5, count: 1024))
        #expect(bench.driver.bytes(of: status) == [ok])
        let payload = (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let writeHead = bench.queue.submit([bench.header(BlockBench.typeOut, sector: 5),
                                            bench.driver.readable(payload), bench.status()])
        bench.queue.notify()
        #expect(bench.queue.takeUsed() == [UsedElement(id: UInt32(writeHead), length: 1)])
        #expect(backend.takenBytes == payload)
        let counters = bench.block.counters
        #expect(counters.readRequests == 1 && counters.bytesRead == 1024)
        #expect(counters.writeRequests == 1 && counters.bytesWritten == 512 && counters.ioErrors == 0)
    }

    /// One attempt per pass over the queue: the first request of a batch is tried at once, the
    /// rest go to the ring together (one io_uring_enter, where the kernel tries each without
    /// blocking itself) rather than costing a system call each here.
    @Test func oneAttemptPerPassTheRestOfTheBatchGoesToTheRing() {
        let (backend, disk) = scripted([.cached(fill: 1, count: nil), .cached(fill: 2, count: nil)])
        let bench = BlockBench(backend: backend, engine: .async)
        let (first, _) = bench.submitRead(sector: 0)
        let (second, _) = bench.submitRead(sector: 1)
        bench.queue.notify()
        #expect(bench.queue.takeUsed() == [UsedElement(id: 0, length: 513)])
        #expect(backend.asked == 1 && bench.driver.bytes(of: first) == [UInt8](repeating: 1, count: 512))
        disk.feed([UInt8](repeating: 3, count: 512))
        #expect(bench.takeUsed(count: 1) == [UsedElement(id: 3, length: 513)])
        #expect(bench.driver.bytes(of: second) == [UInt8](repeating: 3, count: 512))
        // The next pass tries its first request again.
        let (third, _) = bench.submitRead(sector: 2)
        bench.queue.notify()
        #expect(bench.queue.takeUsed() == [UsedElement(id: 6, length: 513)])
        #expect(backend.asked == 2 && bench.driver.bytes(of: third) == [UInt8](repeating: 2, count: 512))
    }

    /// A miss (EAGAIN) goes to the ring as before: in flight until the disk answers.
    @Test func aMissGoesToTheRing() {
        let (backend, disk) = scripted([.wouldBlock])
        let bench = BlockBench(backend: backend, engine: .async)
        let (data, _) = bench.submitRead(sector: 0)
        bench.queue.notify()
        #expect(bench.queue.takeUsed().isEmpty)
        disk.feed([UInt8](repeating: 0x42, count: 512))
        #expect(bench.takeUsed(count: 1) == [UsedElement(id: 0, length: 513)])
        #expect(bench.driver.bytes(of: data) == [UInt8](repeating: 0x42, count: 512))
        #expect(backend.asked == 1)
    }

    /// A short hit: the ring continues from the first byte not moved, across scattered segments
    /// (one empty, the cut inside a segment), at the right file offset; one answer for both.
    @Test(arguments: [0, 1, 99, 100, 612, 2048, 3071])
    func aShortHitIsContinuedByTheRing(prefix: Int) throws {
        let sizes = [100, 0, 412, 1536, 7, 505, 512]  // 3072 bytes: 6 sectors
        let expected = Array(diskPattern(2048 * 512)[(10 * 512)..<(10 * 512 + 3072)])

        let reader = try scriptedFile([.prefix(prefix)])
        let bench = BlockBench(backend: reader, engine: .async), driver = bench.driver
        let back = sizes.map { driver.writable($0) }
        #expect(bench.request(BlockBench.typeIn, sector: 10, data: back) == (3073, ok))
        #expect(back.flatMap { driver.bytes(of: $0) } == expected)
        #expect(bench.block.counters.bytesRead == 3072)

        let writer = try scriptedFile([.prefix(prefix)])
        let writing = BlockBench(backend: writer, engine: .async)
        let payload = (0..<3072).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        var out: [MockBuffer] = [], start = 0
        for size in sizes {
            out.append(writing.driver.readable(Array(payload[start..<start + size])))
            start += size
        }
        #expect(writing.request(BlockBench.typeOut, sector: 10, data: out) == (1, ok))
        #expect(Array(image.contents[5120..<8192]) == payload)
        #expect(writing.block.counters.bytesWritten == 3072)
    }

    /// A short hit whose rest fails in the ring (the file shrank under the disk): IOERR, and
    /// the used length counts what both moved.
    @Test func anErrorAfterAShortHitIsAnIOError() throws {
        let backend = try scriptedFile([.prefix(512)])
        let bench = BlockBench(backend: backend, engine: .async), driver = bench.driver
        image.truncate(to: 2046 * 512 + 512 + 200)
        let data = [driver.writable(512), driver.writable(512)]
        #expect(bench.request(BlockBench.typeIn, sector: 2046, data: data) == (713, ioError))
        #expect(bench.block.counters.ioErrors == 1 && bench.block.counters.bytesRead == 712)
    }

    /// Ordering: a hit is answered while an earlier miss is still in flight (virtio-blk
    /// requests may complete in any order), and so is a FLUSH after both (it covers what was
    /// answered before it, not what is in flight: virtio 1.1, 5.2.6).
    @Test func aHitAndAFlushOvertakeAMiss() {
        let (backend, disk) = scripted([.wouldBlock, .cached(fill: 7, count: nil)])
        let bench = BlockBench(backend: backend, engine: .async)
        let (missed, _) = bench.submitRead(sector: 0)
        bench.queue.notify()
        #expect(bench.queue.takeUsed().isEmpty)
        let (hit, _) = bench.submitRead(sector: 1)
        let flushHead = bench.queue.submit([bench.header(BlockBench.typeFlush), bench.status()])
        bench.queue.notify()
        #expect(bench.takeUsed(count: 2).map(\.id).sorted() == [3, UInt32(flushHead)])
        #expect(bench.driver.bytes(of: hit) == [UInt8](repeating: 7, count: 512))
        disk.feed([UInt8](repeating: 9, count: 512))
        #expect(bench.takeUsed(count: 1).map(\.id) == [0])
        #expect(bench.driver.bytes(of: missed) == [UInt8](repeating: 9, count: 512))
    }

    /// A file system without RWF_NOWAIT (EOPNOTSUPP) is asked once per direction, not per
    /// request; a new backend (PATCH /drives) is asked again.
    @Test func unsupportedStopsTheFastPathUntilTheBackendChanges() throws {
        let backend = try scriptedFile([.unsupported, .unsupported])
        let bench = BlockBench(backend: backend, engine: .async), driver = bench.driver
        for sector: UInt64 in 0..<3 {
            #expect(bench.request(BlockBench.typeIn, sector: sector, data: [driver.writable(512)]) == (513, ok))
        }
        #expect(backend.asked == 1)
        #expect(bench.request(BlockBench.typeOut, sector: 1, data: [bench.payload(4)]) == (1, ok))
        #expect(bench.request(BlockBench.typeOut, sector: 2, data: [bench.payload(5)]) == (1, ok))
        #expect(backend.asked == 2)
        #expect(Array(image.contents[512..<1536]) == [UInt8](repeating: 4, count: 512) + [UInt8](repeating: 5, count: 512))

        let next = try scriptedFile([.real])
        _ = try bench.block.replaceBackend(next)
        let data = driver.writable(512)
        #expect(bench.request(BlockBench.typeIn, sector: 4, data: [data]) == (513, ok))
        #expect(next.asked == 1)
        #expect(driver.bytes(of: data) == Array(diskPattern(2048 * 512)[2048..<2560]))
    }

    /// The real thing: a page-cache hit is moved whole by preadv2(RWF_NOWAIT), or the file
    /// system takes no RWF_NOWAIT at all (tmpfs: `.unsupported`), never `.wouldBlock` for pages
    /// just written; a read-only file's writes and a FIFO (no offsets) are `.unsupported`.
    @Test func fileBackendReadsAHitWithoutBlocking() throws {
        let file = try FileBlockBackend(path: image.path, readOnly: true)
        _ = image.contents  // just written and read back: in the page cache
        var buffer = [UInt8](repeating: 0, count: 1536)
        let (read, write) = buffer.withUnsafeMutableBytes { bytes in
            var segments = [iovec(iov_base: bytes.baseAddress, iov_len: 1000),
                            iovec(iov_base: bytes.baseAddress! + 1000, iov_len: 536)]
            return segments.withUnsafeMutableBufferPointer {
                (file.readImmediately(into: $0, at: 4096), file.writeImmediately(from: $0, at: 0))
            }
        }
        #expect(read == .moved(1536) || read == .unsupported)
        if read == .moved(1536) { #expect(buffer == Array(diskPattern(2048 * 512)[4096..<5632])) }
        #expect(write == .unsupported)
        let fifo = StalledDisk()
        let fromFIFO = buffer.withUnsafeMutableBytes { bytes in
            var segment = [iovec(iov_base: bytes.baseAddress, iov_len: 512)]
            return segment.withUnsafeMutableBufferPointer { fifo.backend.readImmediately(into: $0, at: 0) }
        }
        #expect(fromFIFO == .unsupported)
    }

    /// The sync engine never takes the fast path (it blocks on the device thread anyway).
    @Test func theSyncEngineDoesNotAsk() throws {
        let backend = try scriptedFile([.cached(fill: 1, count: nil)])
        let bench = BlockBench(backend: backend, engine: .sync)
        let data = bench.driver.writable(512)
        #expect(bench.request(BlockBench.typeIn, sector: 3, data: [data]) == (513, ok))
        #expect(backend.asked == 0 && bench.driver.bytes(of: data) == Array(diskPattern(2048 * 512)[1536..<2048]))
    }
}
