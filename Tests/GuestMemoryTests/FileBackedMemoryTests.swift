import Glibc
import GuestMemory
import Testing

/// Guest memory mapped copy-on-write from a snapshot's memory file.
@Suite struct FileBackedMemoryTests {
    private func makeFile(_ bytes: [UInt8]) -> (fd: Int32, path: String) {
        var template = Array("/tmp/kiln-memfile.XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        precondition(fd >= 0)
        let path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
        precondition(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == bytes.count)
        return (fd, path)
    }

    @Test func regionsComeFromConsecutiveOffsetsAndWritesStayPrivate() throws {
        let page = 4096
        var contents = [UInt8](repeating: 0, count: 3 * page)
        for index in contents.indices { contents[index] = UInt8(truncatingIfNeeded: index / page + 1) }
        let file = makeFile(contents)
        defer { close(file.fd); unlink(file.path) }
        let layout = [(start: GuestAddress(0), size: UInt64(page)), (start: GuestAddress(0x10000), size: UInt64(2 * page))]
        let memory = try GuestMemory(layout: layout, file: file.fd)
        #expect(try memory.read(UInt8.self, at: GuestAddress(0)) == 1)
        #expect(try memory.read(UInt8.self, at: GuestAddress(0x10000)) == 2)
        #expect(try memory.read(UInt8.self, at: GuestAddress(0x10000 + UInt64(page))) == 3)
        try memory.write(UInt64(0xdead_beef), at: GuestAddress(0x10008))
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x10008)) == 0xdead_beef)
        // The file is the snapshot: a clone's writes never reach it.
        var after = [UInt8](repeating: 0, count: contents.count)
        #expect(after.withUnsafeMutableBytes { pread(file.fd, $0.baseAddress, $0.count, 0) } == contents.count)
        #expect(after == contents)
        // A second clone of the same file sees the snapshot, not the first clone's write.
        let clone = try GuestMemory(layout: layout, file: file.fd)
        #expect(try clone.read(UInt64.self, at: GuestAddress(0x10008)) == 0x0202_0202_0202_0202)
    }

    @Test func aShortFileIsRefused() {
        let file = makeFile([UInt8](repeating: 7, count: 4096))
        defer { close(file.fd); unlink(file.path) }
        #expect(throws: GuestMemoryError.invalidLayout("the memory file has 4096 bytes, the guest needs 8192")) {
            _ = try GuestMemory(layout: [(start: GuestAddress(0), size: 8192)], file: file.fd)
        }
    }
}
