import GuestMemory
import Testing

@Suite struct GuestAddressTests {
    @Test func addingDetectsWrap() {
        #expect(GuestAddress(10).adding(5) == GuestAddress(15))
        #expect(GuestAddress(UInt64.max).adding(1) == nil)
        #expect(GuestAddress(UInt64.max - 1).adding(1) == GuestAddress(UInt64.max))
    }

    @Test func offsetFromBase() {
        #expect(GuestAddress(0x1010).offset(from: GuestAddress(0x1000)) == 0x10)
        #expect(GuestAddress(0x0fff).offset(from: GuestAddress(0x1000)) == nil)
    }
}

@Suite struct GuestMemoryTests {
    /// Two regions with a hole between them, like RAM below and above the MMIO gap.
    func makeMemory() throws -> GuestMemory {
        try GuestMemory(layout: [(GuestAddress(0), 0x10000), (GuestAddress(0x20000), 0x1000)])
    }

    @Test func integersRoundTripLittleEndian() throws {
        let memory = try makeMemory()
        try memory.write(UInt32(0x1122_3344), at: GuestAddress(0x100))
        #expect(try memory.read(UInt32.self, at: GuestAddress(0x100)) == 0x1122_3344)
        #expect(try memory.read(UInt8.self, at: GuestAddress(0x100)) == 0x44)
        try memory.write(UInt64.max, at: GuestAddress(0x20000 + 0x1000 - 8))
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x20ff8)) == UInt64.max)
    }

    @Test func unalignedAccessIsAllowed() throws {
        let memory = try makeMemory()
        try memory.write(UInt64(0x0102_0304_0506_0708), at: GuestAddress(0x101))
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x101)) == 0x0102_0304_0506_0708)
    }

    @Test func accessPastRegionEndFails() throws {
        let memory = try makeMemory()
        #expect(throws: GuestMemoryError.outOfRange(address: 0xfffd, length: 4)) {
            try memory.write(UInt32(1), at: GuestAddress(0xfffd))
        }
        #expect(throws: GuestMemoryError.self) { try memory.read(UInt8.self, at: GuestAddress(0x10000)) }
        #expect(throws: GuestMemoryError.self) { try memory.read(UInt8.self, at: GuestAddress(0x21000)) }
    }

    @Test func accessSpanningTwoRegionsFails() throws {
        let memory = try GuestMemory(layout: [(GuestAddress(0), 0x1000), (GuestAddress(0x1000), 0x1000)])
        #expect(throws: GuestMemoryError.self) { try memory.read(UInt32.self, at: GuestAddress(0xffe)) }
        #expect(try memory.read(UInt32.self, at: GuestAddress(0xffc)) == 0)
    }

    @Test func wrappingRangesAreRejected() throws {
        let memory = try makeMemory()
        #expect(throws: GuestMemoryError.self) { try memory.slice(at: GuestAddress(UInt64.max - 2), count: 8) }
        #expect(throws: GuestMemoryError.self) { try memory.hostPointer(at: GuestAddress(0x10), length: UInt64.max) }
        #expect(throws: GuestMemoryError.self) { try memory.slice(at: GuestAddress(0), count: -1) }
        #expect(!memory.contains(GuestAddress(1), length: UInt64.max))
    }

    @Test func failedWriteTouchesNothing() throws {
        let memory = try makeMemory()
        let bytes = [UInt8](repeating: 0xaa, count: 32)
        #expect(throws: GuestMemoryError.self) { try memory.write(bytes, to: GuestAddress(0xfff0)) }
        #expect(try memory.readBytes(at: GuestAddress(0xfff0), count: 16) == [UInt8](repeating: 0, count: 16))
    }

    @Test func bytesRoundTripAndZero() throws {
        let memory = try makeMemory()
        try memory.write([1, 2, 3, 4], to: GuestAddress(0x20010))
        #expect(try memory.readBytes(at: GuestAddress(0x20010), count: 4) == [1, 2, 3, 4])
        try memory.zero(at: GuestAddress(0x20011), count: 2)
        #expect(try memory.readBytes(at: GuestAddress(0x20010), count: 4) == [1, 0, 0, 4])
        var out = [UInt8](repeating: 0, count: 4)
        try out.withUnsafeMutableBytes { try memory.read(into: $0, from: GuestAddress(0x20010)) }
        #expect(out == [1, 0, 0, 4])
    }

    @Test func emptyAccessesSucceedAtTheEdge() throws {
        let memory = try makeMemory()
        #expect(try memory.slice(at: GuestAddress(0x10000), count: 0).count == 0)
        try memory.write([], to: GuestAddress(0x10000))
    }

    @Test func layoutValidation() {
        #expect(throws: GuestMemoryError.self) { try GuestMemory(layout: []) }
        #expect(throws: GuestMemoryError.self) { try GuestMemory(layout: [(GuestAddress(0), 0)]) }
        #expect(throws: GuestMemoryError.self) {
            try GuestMemory(layout: [(GuestAddress(0), 0x2000), (GuestAddress(0x1000), 0x1000)])
        }
        #expect(throws: GuestMemoryError.self) { try GuestMemory(layout: [(GuestAddress(UInt64.max - 0xfff), 0x2000)]) }
    }

    @Test func totalSizeAndEnd() throws {
        let memory = try makeMemory()
        #expect(memory.totalSize == 0x11000)
        #expect(memory.endAddress == GuestAddress(0x21000))
    }
}
