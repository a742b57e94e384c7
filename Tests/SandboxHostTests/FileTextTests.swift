import Glibc
import SandboxHost
import Testing

/// FileText.read sizes its buffer to the file (not to the limit) and still reads whole files of
/// any size up to the limit, files that report no size (/proc), and stops at the limit.
@Suite struct FileTextTests {
    @Test func readsSmallLargeAndLimitedFiles() {
        let directory = TestDirectory()
        let small = directory.path + "/small", large = directory.path + "/large"
        TestDirectory.write(small, "root:x:0:0::/root:/bin/sh\n")
        let big = String(repeating: "0123456789abcdef", count: 40_000)   // 640,000 bytes
        TestDirectory.write(large, big)
        #expect(FileText.read(small, limit: 1 << 20) == "root:x:0:0::/root:/bin/sh\n")
        #expect(FileText.read(large, limit: 1 << 20) == big)
        #expect(FileText.read(large, limit: 100_001) == String(big.prefix(100_001)))
        #expect(FileText.read(large, limit: 0) == "")
        TestDirectory.write(small, "")
        #expect(FileText.read(small) == "")
        #expect(FileText.read(directory.path + "/missing") == nil)
    }

    @Test func readsFilesThatReportNoSize() throws {
        // /proc files have st_size 0: the buffer grows as they are read.
        let text = try #require(FileText.read("/proc/self/maps", limit: 1 << 20))
        #expect(text.count > 4096 && text.hasSuffix("\n"))
        let status = try #require(FileText.read("/proc/self/status"))
        #expect(status.hasPrefix("Name:"))
    }
}
