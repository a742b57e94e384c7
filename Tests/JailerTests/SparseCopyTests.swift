import Glibc
@testable import Jailer
import Testing

/// `--copy-in` of a sparse file (a sandbox's scratch disk) copies its data and keeps its holes.
@Suite struct SparseCopyTests {
    @Test func keepsHolesAndData() throws {
        var template = Array("/tmp/kiln-jailer-sparse.XXXXXX".utf8CString)
        let dir = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
        defer { _ = system("rm -rf '\(dir)'") }
        let source = "\(dir)/scratch.ext4", copy = "\(dir)/copy"
        let size: off_t = 256 << 20
        let fd = open(source, O_RDWR | O_CREAT | O_EXCL, 0o600)
        try #require(fd >= 0)
        let head = [UInt8](repeating: 0xA5, count: 8192), middle = [UInt8](repeating: 0x5A, count: 4096)
        #expect(pwrite(fd, head, head.count, 0) == head.count)
        #expect(pwrite(fd, middle, middle.count, 100 << 20) == middle.count)
        #expect(ftruncate(fd, size) == 0)
        close(fd)

        try JailDirectory.copy(source, to: copy, mode: 0o600, owner: nil, step: "copy-in")

        var info = stat()
        #expect(stat(copy, &info) == 0)
        #expect(info.st_size == size)
        #expect(Int(info.st_blocks) * 512 < 4 << 20, "the copy must stay sparse")
        let out = open(copy, O_RDONLY)
        defer { close(out) }
        var readBack = [UInt8](repeating: 0, count: 8192)
        #expect(pread(out, &readBack, 8192, 0) == 8192 && readBack == head)
        #expect(pread(out, &readBack, 4096, 100 << 20) == 4096 && Array(readBack[0..<4096]) == middle)
        #expect(pread(out, &readBack, 4096, 200 << 20) == 4096 && readBack[0..<4096].allSatisfy { $0 == 0 })
    }
}
