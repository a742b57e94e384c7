@testable import Devices
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct VsockPendingBytesTests {
    /// The bytes `vectors` describes, in order.
    func contents(_ ring: VsockPendingBytes) -> [UInt8] {
        let vectors = UnsafeMutableBufferPointer<iovec>.allocate(capacity: 2)
        defer { vectors.deallocate() }
        let count = ring.vectors(vectors)
        return (0..<count).flatMap { Array(UnsafeRawBufferPointer(start: vectors[$0].iov_base, count: vectors[$0].iov_len)) }
    }

    func append(_ ring: VsockPendingBytes, _ bytes: [UInt8], skipping skip: Int = 0) {
        var copy = bytes
        copy.withUnsafeMutableBytes { raw in
            var vector = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
            withUnsafeMutablePointer(to: &vector) { ring.append(UnsafeMutableBufferPointer(start: $0, count: 1), skipping: skip) }
        }
    }

    @Test func keepsOrderAcrossTheWrap() {
        let ring = VsockPendingBytes(capacity: 8)
        append(ring, [1, 2, 3, 4, 5])
        ring.consume(3)
        append(ring, [6, 7, 8, 9, 10, 11])  // wraps: 3 at the end, 3 at the start
        #expect(ring.count == 8 && ring.freeSpace == 0)
        #expect(contents(ring) == [4, 5, 6, 7, 8, 9, 10, 11])
        ring.consume(5)
        #expect(contents(ring) == [9, 10, 11])
        ring.consume(3)
        #expect(ring.isEmpty && contents(ring) == [])
    }

    @Test func skipsWhatTheSocketAlreadyTook() {
        let ring = VsockPendingBytes(capacity: 16)
        append(ring, [1, 2, 3, 4, 5, 6], skipping: 4)
        #expect(contents(ring) == [5, 6])
    }
}
