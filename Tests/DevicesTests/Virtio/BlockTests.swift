import Devices
import GuestMemory
import TestSupport
import Testing

private let unsupported: UInt8 = 2

@Suite struct BlockTests {
    let image = TemporaryFile(contents: diskPattern(16 * 512 + 100))

    /// The device on `image`; every test runs on both engines (MemoryBackend tests run the
    /// sync path either way: it has no file for the ring).
    func bench(_ engine: BlockIOEngine) throws -> BlockBench {
        let bench = BlockBench(backend: try FileBlockBackend(path: image.path, readOnly: false), engine: engine)
        #expect(bench.block.ioEngine == engine)
        return bench
    }

    @Test(arguments: BlockIOEngine.allCases)
    func identityFeaturesAndConfig(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        #expect(driver.read(MMIORegister.deviceID) == 2)
        #expect(driver.deviceFeatures == Block.featureSizeMax | Block.featureSegmentMax | Block.featureFlush
            | VirtioFeature.transportFeatures)
        // capacity counts whole sectors: the 100-byte tail is not addressable.
        #expect(bench.block.capacity == 16)
        #expect(driver.readConfig(0, count: 8) == [16, 0, 0, 0, 0, 0, 0, 0])
        #expect(driver.readConfig(8, count: 4) == [0, 0, 0x10, 0])   // size_max 1 MiB
        #expect(driver.readConfig(12, count: 4) == [254, 0, 0, 0])   // seg_max = 256 - 2
        #expect(driver.readConfig(16, count: 4) == [0, 0, 0, 0])     // beyond config space
        #expect(driver.read(MMIORegister.queueNumMax) == 256)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func readCopiesSectorsIntoGuestBuffers(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let first = driver.writable(512), second = driver.writable(1024)
        let (used, status) = bench.request(BlockBench.typeIn, sector: 2, data: [first, second])
        #expect(status == ok)
        #expect(used == 1537)
        let expected = Array(diskPattern(16 * 512)[1024..<2560])
        #expect(driver.bytes(of: first) + driver.bytes(of: second) == expected)
        #expect(bench.block.counters.bytesRead == 1536)
        #expect(bench.block.counters.readRequests == 1)
        #expect(driver.interruptStatus == .usedBuffer)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func readOfTheLastSector(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let data = driver.writable(512)
        #expect(bench.request(BlockBench.typeIn, sector: 15, data: [data]) == (513, ok))
        #expect(driver.bytes(of: data) == Array(diskPattern(16 * 512)[(15 * 512)...]))
    }

    @Test(arguments: BlockIOEngine.allCases)
    func writeReachesTheFile(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let payload = [UInt8](repeating: 0x42, count: 1024)
        let (used, status) = bench.request(BlockBench.typeOut, sector: 3, data: [driver.readable(payload)])
        #expect(status == ok)
        #expect(used == 1)  // nothing written into guest buffers but the status
        var expected = diskPattern(16 * 512 + 100)
        expected.replaceSubrange(1536..<2560, with: payload)
        #expect(image.contents == expected)
        #expect(bench.block.counters.bytesWritten == 1024)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func writeThenReadBackThroughIndirectDescriptors(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let payload = (0..<512).map { UInt8(255 - $0 % 256) }
        let out = driver.readable(payload)
        #expect(bench.request(BlockBench.typeOut, sector: 7, data: [out], indirect: true) == (1, ok))
        let back = driver.writable(512)
        #expect(bench.request(BlockBench.typeIn, sector: 7, data: [back], indirect: true) == (513, ok))
        #expect(driver.bytes(of: back) == payload)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func flushReachesTheBackend(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let memory = MemoryBackend(size: 4096)
        let memoryBench = BlockBench(backend: memory, engine: engine)
        #expect(memoryBench.request(BlockBench.typeFlush) == (1, ok))
        #expect(memory.flushes == 1)
        #expect(memoryBench.block.counters.flushes == 1)
        // And on a real file, fdatasync succeeds.
        #expect(try self.bench(engine).request(BlockBench.typeFlush) == (1, ok))
    }

    @Test(arguments: BlockIOEngine.allCases)
    func flushFailureIsReported(engine: BlockIOEngine) throws {
        let memory = MemoryBackend(size: 4096)
        memory.failFlush.store(true, ordering: .relaxed)
        let bench = BlockBench(backend: memory, engine: engine)
        #expect(bench.request(BlockBench.typeFlush) == (1, ioError))
        #expect(bench.block.counters.ioErrors == 1)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func flushWithDataIsRefused(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        #expect(bench.request(BlockBench.typeFlush, data: [driver.readable([1])]) == (1, ioError))
    }

    @Test(arguments: BlockIOEngine.allCases)
    func getIDAnswersTheSerialNulPadded(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let id = driver.writable(20)
        #expect(bench.request(BlockBench.typeGetID, data: [id]) == (21, ok))
        #expect(driver.bytes(of: id) == Array("kiln-disk-0".utf8) + [UInt8](repeating: 0, count: 9))
        #expect(bench.block.counters.getIDs == 1)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func getIDTruncatesToTwentyBytesAndFitsSmallBuffers(engine: BlockIOEngine) throws {
        let bench = BlockBench(backend: MemoryBackend(size: 512), serial: String(repeating: "s", count: 30), engine: engine)
        let long = bench.driver.writable(32)
        #expect(bench.request(BlockBench.typeGetID, data: [long]) == (21, ok))
        let expected = [UInt8](repeating: 0x73, count: 20) + [UInt8](repeating: 0xAA, count: 12)
        #expect(bench.driver.bytes(of: long) == expected)
        let short = bench.driver.writable(8)
        #expect(bench.request(BlockBench.typeGetID, data: [short]) == (9, ok))
        let split = [bench.driver.writable(5), bench.driver.writable(30)]
        #expect(bench.request(BlockBench.typeGetID, data: split) == (21, ok))
        #expect(Array(bench.driver.bytes(of: split[1]).prefix(16)) == [UInt8](repeating: 0x73, count: 15) + [0xAA])
    }

    @Test(arguments: BlockIOEngine.allCases)
    func getIDIntoADeviceReadableBufferIsRefused(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let id = driver.readable([UInt8](repeating: 7, count: 20))
        #expect(bench.request(BlockBench.typeGetID, data: [id]) == (1, ioError))
        #expect(driver.bytes(of: id) == [UInt8](repeating: 7, count: 20))
    }

    @Test(arguments: [2, 11, 13, 0xFFFF_FFFF] as [UInt32], BlockIOEngine.allCases)
    func unknownTypesAreUnsupported(type: UInt32, engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        #expect(bench.request(type, data: [driver.writable(512)]) == (1, unsupported))
        #expect(bench.block.counters.unsupported == 1)
    }

    @Test(arguments: [
        (16, 512), (15, 1024), (17, 0), (UInt64.max, 512), (UInt64.max / 512 + 1, 512), (UInt64.max / 512, 512),
    ] as [(UInt64, Int)], BlockIOEngine.allCases)
    func sectorsOutsideTheDiskAreIOErrors(range: (UInt64, Int), engine: BlockIOEngine) throws {
        let (sector, length) = range
        let bench = try self.bench(engine), driver = bench.driver
        let read = length > 0 ? [driver.writable(length)] : []
        #expect(bench.request(BlockBench.typeIn, sector: sector, data: read) == (1, ioError))
        let write = length > 0 ? [driver.readable([UInt8](repeating: 9, count: length))] : []
        #expect(bench.request(BlockBench.typeOut, sector: sector, data: write) == (1, ioError))
        #expect(image.contents == diskPattern(16 * 512 + 100))  // the file never grew
    }

    @Test(arguments: [1, 511, 513, 100] as [Int], BlockIOEngine.allCases)
    func dataThatIsNotWholeSectorsIsAnIOError(length: Int, engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        #expect(bench.request(BlockBench.typeIn, data: [driver.writable(length)]) == (1, ioError))
        #expect(bench.request(BlockBench.typeOut, data: [bench.payload(1, count: length)]) == (1, ioError))
    }

    @Test(arguments: BlockIOEngine.allCases)
    func readIntoADeviceReadableBufferIsRefused(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let readOnlyBuffer = driver.readable([UInt8](repeating: 3, count: 512))
        #expect(bench.request(BlockBench.typeIn, data: [readOnlyBuffer]) == (1, ioError))
        #expect(driver.bytes(of: readOnlyBuffer) == [UInt8](repeating: 3, count: 512))
        // Mixed directions: one bad buffer spoils the request before any I/O.
        let good = driver.writable(512)
        #expect(bench.request(BlockBench.typeIn, data: [good, readOnlyBuffer]) == (1, ioError))
        #expect(driver.bytes(of: good) == [UInt8](repeating: 0xAA, count: 512))
    }

    @Test(arguments: BlockIOEngine.allCases)
    func writeFromADeviceWritableBufferIsRefused(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        #expect(bench.request(BlockBench.typeOut, data: [driver.writable(512, fill: 0x11)]) == (1, ioError))
        #expect(image.contents == diskPattern(16 * 512 + 100))
    }

    @Test(arguments: BlockIOEngine.allCases)
    func segmentLargerThanSizeMaxIsRefused(engine: BlockIOEngine) throws {
        let bench = BlockBench(backend: MemoryBackend(size: 8192), sizeMax: 1024, engine: engine)
        #expect(bench.driver.readConfig(8, count: 4) == [0, 4, 0, 0])
        #expect(bench.request(BlockBench.typeIn, data: [bench.driver.writable(1536)]) == (1, ioError))
        #expect(bench.request(BlockBench.typeIn, data: [bench.driver.writable(1024)]) == (1025, ok))
    }

    @Test(arguments: BlockIOEngine.allCases)
    func headerMustBeSixteenDeviceReadableBytes(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let status = bench.status
        // Device-writable header.
        let writableHeader = driver.writable(16, fill: 0)
        #expect(bench.send([writableHeader, driver.writable(512), status()]).status == ioError)
        // Too short and too long.
        #expect(bench.send([driver.readable([0, 0, 0, 0, 0, 0, 0, 0]), status()]).status == ioError)
        #expect(bench.send([driver.readable([UInt8](repeating: 0, count: 20)), status()]).status == ioError)
        // A chain of one writable byte: status but no header.
        let (used, lone) = bench.send([status()])
        #expect(used.map(\.length) == [1])
        #expect(lone == ioError)
        #expect(bench.block.counters.ioErrors == 4)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func chainWithoutAWritableStatusByteIsReturnedEmpty(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let header = bench.header(BlockBench.typeIn)
        let data = driver.writable(512)
        // Status device-readable: nothing may be written, not even the data.
        let readOnlyStatus = driver.readable([0xEE])
        let (used, status) = bench.send([header, data, readOnlyStatus])
        #expect(used.map(\.length) == [0])
        #expect(status == 0xEE)
        #expect(driver.bytes(of: data) == [UInt8](repeating: 0xAA, count: 512))
        // Zero-length status.
        let empty = MockBuffer(address: driver.allocate(1), length: 0, deviceWritable: true)
        #expect(bench.send([header, empty]).used.map(\.length) == [0])
        // Header only.
        #expect(bench.send([header]).used.map(\.length) == [0])
        #expect(bench.block.counters.malformedChains == 3)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func zeroLengthChainsAreReturnedEmpty(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let nowhere = MockBuffer(address: GuestAddress(0x2000), length: 0, deviceWritable: false)
        let (used, _) = bench.send([nowhere, nowhere])
        #expect(used.map(\.length) == [0])
        #expect(bench.block.counters.malformedChains == 1)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func descriptorOutsideRAMMakesTheChainMalformed(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let status = bench.status()
        let end = driver.memoryEnd.rawValue
        let outside = MockBuffer(address: GuestAddress(end - 256), length: 512, deviceWritable: true)
        let (used, byte) = bench.send([bench.header(BlockBench.typeIn), outside, status])
        #expect(used.map(\.length) == [0])
        #expect(byte == 0xEE)
        #expect(bench.block.counters.malformedChains == 1)
        // The next request is served normally.
        #expect(bench.request(BlockBench.typeIn, data: [driver.writable(512)]) == (513, ok))
    }

    @Test(arguments: BlockIOEngine.allCases)
    func descriptorLoopMakesTheChainMalformed(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        let header = bench.header(BlockBench.typeIn)
        let queue = bench.queue
        queue.writeDescriptor(0, address: header.address, length: 16, flags: 1, next: 1)
        queue.writeDescriptor(1, address: driver.allocate(512), length: 512, flags: 3, next: 0)
        queue.makeAvailable(0)
        queue.notify()
        #expect(queue.takeUsed() == [UsedElement(id: 0, length: 0)])
        #expect(bench.block.counters.malformedChains == 1)
        #expect(!driver.status.contains(.needsReset))
    }

    @Test(arguments: BlockIOEngine.allCases)
    func shortReadFromATruncatedImageIsAnIOError(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        image.truncate(to: 4 * 512)  // the device still believes in 16 sectors
        let data = driver.writable(1024)
        // The sector before the end arrives, and the used length says so.
        #expect(bench.request(BlockBench.typeIn, sector: 3, data: [data]) == (513, ioError))
        #expect(Array(driver.bytes(of: data).prefix(512)) == Array(diskPattern(4 * 512)[1536...]))
        // Within what remains, reads still work.
        #expect(bench.request(BlockBench.typeIn, sector: 2, data: [driver.writable(1024)]) == (1025, ok))
    }

    @Test(arguments: BlockIOEngine.allCases)
    func hostReadErrorReportsWhatWasRead(engine: BlockIOEngine) throws {
        let memory = MemoryBackend(size: 8 * 512)
        memory.failFrom.store(1024, ordering: .relaxed)
        let bench = BlockBench(backend: memory, engine: engine)
        let first = bench.driver.writable(512), second = bench.driver.writable(1024)
        #expect(bench.request(BlockBench.typeIn, sector: 1, data: [first, second]) == (513, ioError))
        #expect(bench.block.counters.bytesRead == 512)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func hostWriteErrorIsReported(engine: BlockIOEngine) throws {
        let memory = MemoryBackend(size: 8 * 512)
        memory.failFrom.store(0, ordering: .relaxed)
        let bench = BlockBench(backend: memory, engine: engine)
        #expect(bench.request(BlockBench.typeOut, data: [bench.payload(1)]) == (1, ioError))
        #expect(bench.block.counters.ioErrors == 1)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func manyRequestsInOneNotifyRaiseOneInterrupt(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        var buffers: [MockBuffer] = []
        for sector: UInt64 in 0..<8 {
            let data = driver.writable(512)
            buffers.append(data)
            bench.queue.submit([bench.header(BlockBench.typeIn, sector: sector), data, bench.status()])
        }
        bench.queue.notify()
        #expect(bench.queue.takeUsed().map(\.length) == [UInt32](repeating: 513, count: 8))
        #expect(buffers.flatMap { driver.bytes(of: $0) } == Array(diskPattern(16 * 512)[..<(8 * 512)]))
        #expect(driver.interrupts.triggers == 1)
        #expect(bench.block.counters.requests == 8)
    }

    @Test(arguments: BlockIOEngine.allCases)
    func openingAMissingImageFails(engine: BlockIOEngine) throws {
        let bench = try self.bench(engine), driver = bench.driver
        #expect(throws: BlockIOError.open(path: "/nonexistent/kiln.img", errno: 2)) {
            try FileBlockBackend(path: "/nonexistent/kiln.img", readOnly: true)
        }
    }
}

@Suite struct ReadOnlyBlockTests {
    let image = TemporaryFile(contents: diskPattern(8 * 512))
    let bench: BlockBench

    init() throws {
        bench = BlockBench(backend: try FileBlockBackend(path: image.path, readOnly: true))
    }

    @Test func readOnlyFeatureIsOffered() {
        #expect(bench.block.isReadOnly)
        #expect(bench.driver.deviceFeatures & Block.featureReadOnly != 0)
    }

    @Test func writesAreIOErrorsAndNeverReachTheFile() {
        let payload = [UInt8](repeating: 0x77, count: 512)
        #expect(bench.request(BlockBench.typeOut, sector: 1, data: [bench.driver.readable(payload)]) == (1, ioError))
        #expect(image.contents == diskPattern(8 * 512))
        #expect(bench.block.counters.bytesWritten == 0)
    }

    @Test func theDeviceRefusesWritesEvenIfTheBackendWouldTakeThem() {
        // A backend that reports read-only but would accept writes: the device must not rely
        // on the file having been opened O_RDONLY.
        let memory = MemoryBackend(size: 4096, readOnly: true)
        let bench = BlockBench(backend: memory)
        #expect(bench.request(BlockBench.typeOut, data: [bench.payload(1)]) == (1, ioError))
        #expect(memory.bytes == [UInt8](repeating: 0, count: 4096))
    }

    @Test func readsAndFlushStillWork() {
        let data = bench.driver.writable(512)
        #expect(bench.request(BlockBench.typeIn, sector: 1, data: [data]) == (513, ok))
        #expect(bench.driver.bytes(of: data) == Array(diskPattern(8 * 512)[512..<1024]))
        #expect(bench.request(BlockBench.typeFlush) == (1, ok))
    }
}
