import Foundation
import GuestMemory
import KVM
import Snapshot
import Testing

/// Dirty-page tracking and diff snapshots on /dev/kvm with counter.elf, which writes its count
/// into page n % 8 of the buffer at 0x300000 on every step.
@Suite(.serialized) struct DiffSnapshotTests {
    static let firstDirtyPage = 0x30_0000 / 4096

    @Test func dirtyLogReportsThePagesTheGuestWrote() throws {
        let machine = try GuestMachine.boot(guest: "counter.elf", logDirtyPages: true)
        try machine.run(lines: 3 + 2)
        _ = try machine.dirtyLog()   // everything since boot; the log starts over from here
        try machine.run(lines: 16)
        let log = try machine.dirtyLog()
        #expect(log.count == machine.ranges.count)
        let dirty = Set(log[0].dirtyPages)
        let buffer = Set(Self.firstDirtyPage..<(Self.firstDirtyPage + 8))
        #expect(buffer.isSubset(of: dirty), "buffer pages missing from the log: \(buffer.subtracting(dirty).sorted())")
        #expect(!dirty.contains(0x100_0000 / 4096), "a page nobody wrote is logged")
        #expect(dirty.count < 64, "too many dirty pages for a guest this small: \(dirty.count)")
        // Read again without running: nothing new.
        #expect(try machine.dirtyLog()[0].dirtyPageCount == 0)
    }

    @Test func diffMergedOntoItsBaseEqualsAFullSnapshotAndRestores() throws {
        let scratch = try ScratchDirectory()
        let machine = try GuestMachine.boot(guest: "counter.elf", logDirtyPages: true)
        try machine.run(lines: 3 + 10)
        let base = try machine.capture()
        _ = try MemoryFile.writeFull(machine.ranges, toPath: scratch.file("base.mem"))
        try StateFile.write(base, toPath: scratch.file("base.state"))
        _ = try machine.dirtyLog()   // the diff covers what the guest writes from here

        try machine.run(lines: 20)
        let dirty = try machine.dirtyLog()
        let diff = try machine.capture(kind: .diff, dirty: dirty)
        _ = try MemoryFile.writeDiff(machine.ranges, dirty: dirty, toPath: scratch.file("diff.mem"))
        try StateFile.write(diff, toPath: scratch.file("diff.state"))
        _ = try MemoryFile.writeFull(machine.ranges, toPath: scratch.file("full.mem"))

        // The diff file is sparse: only the dirty pages are allocated.
        let diffBlocks = try allocatedBytes(scratch.file("diff.mem"))
        #expect(diffBlocks <= UInt64(dirty[0].dirtyPageCount + 16) * 4096, "diff file allocates \(diffBlocks) bytes")

        let loaded = try StateFile.read(path: scratch.file("diff.state"))
        let bitmaps = try #require(loaded.dirtyPages)
        try FileManager.default.copyItem(atPath: scratch.file("base.mem"), toPath: scratch.file("merged.mem"))
        try MemoryFile.merge(diffPath: scratch.file("diff.mem"), ontoBasePath: scratch.file("merged.mem"),
                             layout: loaded.memory, dirty: bitmaps)
        let merged = try Data(contentsOf: URL(fileURLWithPath: scratch.file("merged.mem")))
        let full = try Data(contentsOf: URL(fileURLWithPath: scratch.file("full.mem")))
        #expect(merged.count == full.count)
        #expect(merged == full, "merged diff differs from the full snapshot")

        // And the merged memory with the diff's state resumes where the diff was taken.
        let last = try #require(machine.lines.last)
        let clone = try GuestMachine.restore(loaded, memoryPath: scratch.file("merged.mem"))
        try clone.run(lines: 3)
        let n = try #require(Int(last.split(separator: " ")[1]))
        #expect(clone.lines == (n + 1...n + 3).map { "COUNT \($0) XMM \($0)" })
    }

    @Test func memoryFileTooSmallIsRefusedBeforeMapping() throws {
        let scratch = try ScratchDirectory()
        let layout = MemoryFileRange.contiguous([(0, 1 << 20), (0x1_0000_0000, 1 << 20)])
        _ = FileManager.default.createFile(atPath: scratch.file("short.mem"), contents: Data(count: (1 << 20) + 4096))
        #expect(throws: GuestMemoryError.invalidLayout("the memory file has \((1 << 20) + 4096) bytes, the guest needs \(2 << 20)")) {
            try GuestMachine.mapMemoryFile(scratch.file("short.mem"), layout: layout)
        }
        #expect(throws: (any Error).self) {
            try GuestMachine.mapMemoryFile(scratch.file("short.mem"),
                                           layout: [MemoryFileRange(guestAddress: 0, size: 4097, fileOffset: 0)])
        }
    }

    @Test func fullWriteLeavesZeroPagesAsHolesAndMapsBackPrivately() throws {
        let scratch = try ScratchDirectory()
        let size = 64 * 4096
        let host = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { host.deallocate() }
        host.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        for page in [1, 2, 40] { host.storeBytes(of: UInt64(page) &* 0x0101_0101, toByteOffset: page * 4096 + 8, as: UInt64.self) }
        let layout = try MemoryFile.writeFull([HostMemoryRange(guestAddress: 0, size: UInt64(size), host: host)],
                                              toPath: scratch.file("mem"))
        #expect(try allocatedBytes(scratch.file("mem")) <= 3 * 4096 + 4096)
        let mapped = try GuestMachine.mapMemoryFile(scratch.file("mem"), layout: layout)
        let view = mapped.regions[0].host
        #expect(memcmp(view, host, size) == 0)
        // Private: a write to the mapping never reaches the file.
        view.storeBytes(of: 0xdead_beef, toByteOffset: 0, as: UInt32.self)
        let file = try Data(contentsOf: URL(fileURLWithPath: scratch.file("mem")))
        #expect(file.prefix(4) == Data([0, 0, 0, 0]))
    }

    @Test func dirtyBitmapBookkeeping() {
        var bitmap = DirtyBitmap(coveringBytes: 130 * 4096 - 1)
        #expect(bitmap.pageCount == 130 && bitmap.words.count == 3)
        bitmap.markDirty(offset: 4095, length: 2)        // pages 0 and 1
        bitmap.markDirty(offset: 129 * 4096, length: 1 << 40) // clipped at the end
        bitmap.markDirty(page: 500)                       // outside: ignored
        bitmap.markDirty(offset: UInt64.max - 1, length: 10) // overflow: ignored
        #expect(bitmap.dirtyPages == [0, 1, 129])
        var other = DirtyBitmap(pageCount: 130)
        other.markDirty(page: 64)
        bitmap.formUnion(other)
        #expect(bitmap.dirtyPages == [0, 1, 64, 129])
        #expect(DirtyBitmap(pageCount: 3, words: [UInt64.max]).dirtyPages == [0, 1, 2])
    }

    private func allocatedBytes(_ path: String) throws -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw TestFailure("stat \(path)") }
        return UInt64(info.st_blocks) * 512
    }
}
