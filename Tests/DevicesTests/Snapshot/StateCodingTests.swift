import Devices
import Testing

@Suite struct StateCodingTests {
    @Test func writerIsLittleEndianAndReaderReadsItBack() throws {
        var writer = StateWriter()
        writer.write(UInt16(0x0102))
        writer.write(UInt32(0x0304_0506))
        writer.write(true)
        writer.write(bytes: [9, 8])
        writer.write("kiln")
        writer.writeOptional(UInt64?.none) { $0.write($1) }
        #expect(writer.bytes == [0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 1, 2, 0, 0, 0, 9, 8, 4, 0, 0, 0]
            + Array("kiln".utf8) + [0])
        var reader = StateReader(writer.bytes)
        #expect(try reader.read(UInt16.self, "a") == 0x0102)
        #expect(try reader.read(UInt32.self, "b") == 0x0304_0506)
        #expect(try reader.readBool("c"))
        #expect(try reader.readBytes("d", limit: 2) == [9, 8])
        #expect(try reader.readString("e", limit: 4) == "kiln")
        #expect(try reader.readOptional("f") { reader throws(SnapshotStateError) in try reader.read(UInt64.self, "g") } == nil)
        try reader.finish()
    }

    @Test func readerRefusesHostileBytesWithTypedErrors() {
        var short = StateReader([1, 2, 3])
        #expect(throws: SnapshotStateError.truncated(field: "word")) { try short.read(UInt32.self, "word") }
        var bool = StateReader([2])
        #expect(throws: SnapshotStateError.invalidValue(field: "flag", value: 2)) { try bool.readBool("flag") }
        // A huge count is refused before anything is allocated for it.
        var count = StateReader([0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: SnapshotStateError.tooMany(field: "items", count: 0xFFFF_FFFF, limit: 16)) {
            try count.readCount("items", limit: 16)
        }
        var bytes = StateReader([4, 0, 0, 0, 1])
        #expect(throws: SnapshotStateError.truncated(field: "blob")) { try bytes.readBytes("blob", limit: 8) }
        var utf8 = StateReader([2, 0, 0, 0, 0xC3, 0x28])
        #expect(throws: SnapshotStateError.self) { try utf8.readString("name", limit: 8) }
        #expect(throws: SnapshotStateError.trailingBytes(3)) { try StateReader([1, 2, 3]).finish() }
    }

    @Test func deviceStateRefusesUnknownKindAndVersion() throws {
        let state = DeviceState.bootTimer(OneShotState(fired: true))
        let bytes = try reencoded(state).encoded
        #expect(bytes == [7, DeviceState.version, 1])
        #expect(throws: SnapshotStateError.invalidValue(field: "device kind", value: 42)) {
            try DeviceState(decoding: [42, DeviceState.version, 1])
        }
        #expect(throws: SnapshotStateError.unsupportedVersion(field: "device state", version: 9)) {
            try DeviceState(decoding: [7, 9, 1])
        }
        expectHostileEncodingsRefused(state, DeviceState.self)
    }

    @Test func rateLimiterStateChecksItsBalances() throws {
        let bucket = TokenBucketConfig(size: 1000, oneTimeBurst: 50, refillTimeMilliseconds: 100)
        let state = RateLimiterState(config: RateLimiterConfig(bandwidth: bucket),
                                     bandwidth: TokenBucketBalance(tokens: 10, burst: 0, debt: 0, carry: 77,
                                                                   sinceRefill: 5))
        _ = try reencoded(state)
        expectHostileEncodingsRefused(state, RateLimiterState.self)
        var tooFull = state
        tooFull.bandwidth?.tokens = 1001
        #expect(throws: SnapshotStateError.invalidValue(field: "rate limiter bandwidth tokens", value: 1001)) {
            try RateLimiterState(decoding: tooFull.encoded)
        }
        var missing = state
        missing.bandwidth = nil
        #expect(throws: SnapshotStateError.self) { try RateLimiterState(decoding: missing.encoded) }
        var stray = RateLimiterState.unlimited
        stray.ops = TokenBucketBalance(tokens: 0, burst: 0, debt: 0, carry: 0, sinceRefill: 0)
        #expect(throws: SnapshotStateError.self) { try RateLimiterState(decoding: stray.encoded) }
    }
}
