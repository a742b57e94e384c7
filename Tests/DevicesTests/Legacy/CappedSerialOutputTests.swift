import Devices
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct CappedSerialOutputTests {
    static func marker(_ limit: Int) -> [UInt8] {
        Array("\n[kiln: console output truncated after \(limit) bytes]\n".utf8)
    }

    static func write(_ output: some SerialOutput, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { output.write($0) }
    }

    @Test func bytesUpToTheLimitPassUnchanged() {
        let sink = CapturingOutput()
        let output = CappedSerialOutput(sink, limit: 10)
        Self.write(output, Array("hello".utf8))
        Self.write(output, Array("world".utf8))
        #expect(sink.text == "helloworld")
        #expect(!output.isTruncated)
    }

    @Test func theChunkThatCrossesTheLimitIsCutAndMarkedOnce() {
        let sink = CapturingOutput()
        let output = CappedSerialOutput(sink, limit: 8)
        Self.write(output, Array("hello".utf8))
        Self.write(output, Array("world".utf8))
        Self.write(output, Array("more".utf8))
        Self.write(output, [UInt8](repeating: 0x41, count: 10_000))
        #expect(sink.bytes == Array("hellowor".utf8) + Self.marker(8))
        #expect(sink.chunks == 3)  // "hello", "wor", marker
        #expect(output.isTruncated)
    }

    @Test func exactlyFillingTheLimitMarksOnTheNextByte() {
        let sink = CapturingOutput()
        let output = CappedSerialOutput(sink, limit: 5)
        Self.write(output, Array("hello".utf8))
        Self.write(output, [])
        #expect(sink.bytes == Array("hello".utf8))
        #expect(!output.isTruncated)
        Self.write(output, Array("!".utf8))
        Self.write(output, Array("!".utf8))
        #expect(sink.bytes == Array("hello".utf8) + Self.marker(5))
    }

    @Test func zeroLimitKeepsOnlyTheMarker() {
        let sink = CapturingOutput()
        let output = CappedSerialOutput(sink, limit: 0)
        Self.write(output, Array("x".utf8))
        Self.write(output, Array("y".utf8))
        #expect(sink.bytes == Self.marker(0))
    }

    /// Through the UART and a real file, byte counts exact: the file holds the limit plus the
    /// marker, however much the guest sends.
    @Test func fileThroughTheUARTHoldsLimitPlusMarker() throws {
        var template = Array("/tmp/kiln-capped-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        let path = String(cString: template)
        defer { close(fd); unlink(path) }
        let limit = 1000
        let serial = Serial16550(interrupt: CountingInterruptLine(),
                                 output: CappedSerialOutput(FileDescriptorOutput(fileDescriptor: fd), limit: UInt64(limit)))
        for index in 0..<50_000 { serial.writeByte(0, UInt8(ascii: "a") + UInt8(index % 26)) }
        serial.flush()
        var status = stat()
        try #require(fstat(fd, &status) == 0)
        #expect(Int(status.st_size) == limit + Self.marker(limit).count)
        var content = [UInt8](repeating: 0, count: Int(status.st_size))
        let count = content.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        #expect(count == content.count)
        #expect(Array(content.suffix(Self.marker(limit).count)) == Self.marker(limit))
        #expect(content.prefix(26) == ArraySlice("abcdefghijklmnopqrstuvwxyz".utf8))
    }
}
