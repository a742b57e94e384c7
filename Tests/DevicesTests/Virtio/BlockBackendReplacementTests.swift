import Devices
import GuestMemory
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif


/// A disk whose reads wait at a gate, to hold a request in flight on another thread.
private final class GatedBackend: BlockBackend {
    let size: UInt64
    let isReadOnly = false
    private let inner: MemoryBackend
    let entered = Atomic<Bool>(false)
    let open = Atomic<Bool>(false)

    init(_ inner: MemoryBackend) {
        self.inner = inner
        size = inner.size
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        entered.store(true, ordering: .releasing)
        for _ in 0..<5000 where !open.load(ordering: .acquiring) { usleep(1000) }
        try inner.read(into: buffer, at: offset)
    }

    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        try inner.write(buffer, at: offset)
    }

    func flush() throws(BlockIOError) {}
}

/// Spins until `condition` holds (at most two seconds).
private func waitFor(_ condition: () -> Bool) -> Bool {
    for _ in 0..<2000 {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

@Suite struct BlockBackendReplacementTests {
    let first = TemporaryFile(contents: diskPattern(4 * 512))
    let second = TemporaryFile(contents: (0..<(8 * 512)).map { UInt8(truncatingIfNeeded: 255 - $0 % 241) })

    @Test func readsAfterTheSwapSeeTheNewFileAndItsCapacity() throws {
        let bench = BlockBench(backend: try FileBlockBackend(path: first.path, readOnly: false))
        let before = bench.driver.writable(512)
        #expect(bench.request(BlockBench.typeIn, sector: 1, data: [before]).status == ok)
        #expect(bench.driver.bytes(of: before) == Array(first.contents[512..<1024]))
        #expect(bench.driver.readConfig(0, count: 8) == [4, 0, 0, 0, 0, 0, 0, 0])

        let capacity = try bench.block.replaceBackend(try FileBlockBackend(path: second.path, readOnly: false))
        #expect(capacity == 8)
        #expect(bench.block.capacity == 8)
        #expect(bench.driver.readConfig(0, count: 8) == [8, 0, 0, 0, 0, 0, 0, 0])
        #expect(bench.driver.readConfig(8, count: 8) == [0, 0, 0x10, 0, 254, 0, 0, 0])  // unchanged

        // Sector 6 lies beyond the old disk; sector 1 now comes from the new file.
        for sector in [1, 6] {
            let after = bench.driver.writable(512)
            #expect(bench.request(BlockBench.typeIn, sector: UInt64(sector), data: [after]).status == ok)
            #expect(bench.driver.bytes(of: after) == Array(second.contents[sector * 512..<(sector + 1) * 512]))
        }
        let payload = [UInt8](repeating: 0x77, count: 512)
        #expect(bench.request(BlockBench.typeOut, sector: 7, data: [bench.driver.readable(payload)]).status == ok)
        #expect(Array(second.contents[7 * 512..<8 * 512]) == payload)
        #expect(first.contents == diskPattern(4 * 512))

        // The VMM then tells the driver; the transport bumps the config generation.
        let generation = bench.driver.read(MMIORegister.configGeneration)
        bench.driver.transport.notifyConfigChange()
        #expect(bench.driver.read(MMIORegister.configGeneration) == generation &+ 1)
        #expect(bench.driver.interruptStatus.contains(.configChange))
    }

    @Test func aShrunkDiskRefusesSectorsPastItsEnd() throws {
        let bench = BlockBench(backend: try FileBlockBackend(path: second.path, readOnly: false))
        #expect(try bench.block.replaceBackend(try FileBlockBackend(path: first.path, readOnly: false)) == 4)
        #expect(bench.request(BlockBench.typeIn, sector: 6, data: [bench.driver.writable(512)]).status == 1)
    }

    @Test func readOnlyMismatchIsRefused() throws {
        let readWrite = BlockBench(backend: try FileBlockBackend(path: first.path, readOnly: false))
        #expect(throws: BlockBackendReplacementError.self) {
            try readWrite.block.replaceBackend(try FileBlockBackend(path: second.path, readOnly: true))
        }
        let readOnly = BlockBench(backend: try FileBlockBackend(path: first.path, readOnly: true))
        do {
            _ = try readOnly.block.replaceBackend(try FileBlockBackend(path: second.path, readOnly: false))
            Issue.record("a read-write backend replaced a read-only one")
        } catch let error as BlockBackendReplacementError {
            #expect(error.description.contains("read-only"))
        }
        // Both disks are as they were.
        #expect(readWrite.block.capacity == 4 && readOnly.block.capacity == 4)
        let data = readOnly.driver.writable(512)
        #expect(readOnly.request(BlockBench.typeIn, sector: 0, data: [data]).status == ok)
        #expect(readOnly.driver.bytes(of: data) == Array(first.contents[0..<512]))
    }

    @Test func aSwapWaitsForTheRequestInFlight() throws {
        let old = MemoryBackend(size: 4 * 512)
        let filled: Void? = diskPattern(2048).withUnsafeBytes { try? old.write($0, at: 0) }
        #expect(filled != nil)
        let gated = GatedBackend(old)
        let bench = BlockBench(backend: gated)
        let data = bench.driver.writable(1024)
        bench.queue.submit([bench.header(BlockBench.typeIn, sector: 0), data, bench.status()])
        // The "device thread" processes the queue and blocks inside the backend's read.
        let device = TestThread { bench.queue.notify() }
        #expect(waitFor { gated.entered.load(ordering: .acquiring) })
        let replaced = Flag()
        let vmm = TestThread {
            _ = try? bench.block.replaceBackend(MemoryBackend(size: 16 * 512))
            replaced.set()
        }
        usleep(50_000)
        #expect(!replaced.isSet)  // held off while the request runs
        #expect(bench.block.capacity == 4)
        gated.open.store(true, ordering: .releasing)
        device.join()
        vmm.join()
        #expect(replaced.isSet)
        #expect(bench.block.capacity == 16)
        // The request in flight was served whole by the old backend.
        #expect(bench.queue.takeUsed() == [UsedElement(id: 0, length: 1025)])
        #expect(bench.driver.bytes(of: data) == diskPattern(1024))
    }
}
