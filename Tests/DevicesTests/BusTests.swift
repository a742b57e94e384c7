import Devices
import Testing

@Suite struct BusTests {
    @Test func rejectsEmptyRange() {
        var bus = Bus(space: .mmio)
        #expect(throws: BusError.emptyRange(base: 0x1000)) {
            try bus.insert(RecordingDevice(), base: 0x1000, length: 0)
        }
        #expect(bus.ranges.isEmpty)
    }

    @Test func rejectsRangeThatWraps() {
        var bus = Bus(space: .mmio)
        #expect(throws: BusError.wrapsAround(base: .max - 3, length: 8)) {
            try bus.insert(RecordingDevice(), base: .max - 3, length: 8)
        }
    }

    @Test func acceptsRangeEndingAtTopOfSpace() throws {
        var bus = Bus(space: .mmio)
        try bus.insert(RecordingDevice(), base: 0xFFFF_FFFF_FFFF_F000, length: 0x1000)
        #expect(bus.read(address: .max, count: 1).handled)
        #expect(!bus.read(address: .max, count: 2).handled)
    }

    @Test func portSpaceEndsAt0xFFFF() throws {
        var bus = Bus(space: .portIO)
        try bus.insert(RecordingDevice(), base: 0xFFF8, length: 8)
        let range = try #require(BusRange(base: 0xFFFF, length: 2))
        #expect(throws: BusError.outsideAddressSpace(range, space: .portIO)) {
            try bus.insert(RecordingDevice(), base: 0xFFFF, length: 2)
        }
    }

    @Test(arguments: [
        (base: UInt64(0x3f0), length: UInt64(0x10)),  // covers it
        (base: 0x3f0, length: 0x9),                  // ends on its first port
        (base: 0x3ff, length: 0x10),                 // starts on its last port
        (base: 0x3fa, length: 1),                    // inside it
    ])
    func rejectsOverlapNamingBothRanges(base: UInt64, length: UInt64) throws {
        var bus = Bus(space: .portIO)
        try bus.insert(RecordingDevice(), base: 0x3f8, length: 8)
        let new = try #require(BusRange(base: base, length: length))
        let existing = try #require(BusRange(base: 0x3f8, length: 8))
        #expect(throws: BusError.overlap(new: new, existing: existing)) {
            try bus.insert(RecordingDevice(), base: base, length: length)
        }
        #expect("\(BusError.overlap(new: new, existing: existing))".contains("[0x3f8, 0x3ff]"))
    }

    @Test func adjacentRangesAreKeptSorted() throws {
        var bus = Bus(space: .portIO)
        try bus.insert(RecordingDevice(), base: 0x64, length: 1)
        try bus.insert(RecordingDevice(), base: 0x3f8, length: 8)
        try bus.insert(RecordingDevice(), base: 0x60, length: 4)
        #expect(bus.ranges.map(\.base) == [0x60, 0x64, 0x3f8])
        #expect(bus.ranges.map(\.length) == [4, 1, 8])
    }

    @Test func dispatchesWithOffsetInsideTheWindow() throws {
        var bus = Bus(space: .mmio)
        let low = RecordingDevice()
        let high = RecordingDevice()
        try bus.insert(high, base: 0xd000_1000, length: 0x1000)
        try bus.insert(low, base: 0xd000_0000, length: 0x1000)

        let read = bus.read(address: 0xd000_1010, count: 4)
        #expect(read.handled)
        #expect(read.bytes == [0x10, 0x11, 0x12, 0x13])
        #expect(high.log == [.init(isWrite: false, offset: 0x10, bytes: [0x10, 0x11, 0x12, 0x13])])

        #expect(bus.write(address: 0xd000_0ff8, bytes: [1, 2, 3, 4, 5, 6, 7, 8]))
        #expect(low.log == [.init(isWrite: true, offset: 0xff8, bytes: [1, 2, 3, 4, 5, 6, 7, 8])])
        #expect(high.log.count == 1)
    }

    @Test func accessStraddlingTheEndOfAWindowIsNotHandled() throws {
        var bus = Bus(space: .mmio)
        let first = RecordingDevice()
        let second = RecordingDevice()
        try bus.insert(first, base: 0x1000, length: 0x10)
        try bus.insert(second, base: 0x1010, length: 0x10)

        let read = bus.read(address: 0x100e, count: 4)
        #expect(!read.handled)
        #expect(read.bytes == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(!bus.write(address: 0x100f, bytes: [1, 2]))
        #expect(first.log.isEmpty)
        #expect(second.log.isEmpty)
        // The last bytes of the window are still reachable.
        #expect(bus.read(address: 0x100c, count: 4).handled)
    }

    @Test func unhandledReadFillsWithOnes() throws {
        var bus = Bus(space: .portIO)
        try bus.insert(RecordingDevice(), base: 0x60, length: 1)
        for address: UInt64 in [0x0, 0x5f, 0x61, 0xFFFF] {
            let read = bus.read(address: address, count: 2)
            #expect(!read.handled)
            #expect(read.bytes == [0xFF, 0xFF])
        }
        #expect(!bus.write(address: 0x61, bytes: [0]))
        #expect(!Bus(space: .mmio).read(address: 0, count: 8).handled)
    }

    @Test(arguments: [0, 9, 16])
    func accessSizeOutsideOneToEightIsNotHandled(count: Int) throws {
        var bus = Bus(space: .mmio)
        let device = RecordingDevice()
        try bus.insert(device, base: 0, length: 0x100)
        let read = bus.read(address: 0, count: count)
        #expect(!read.handled)
        #expect(read.bytes.allSatisfy { $0 == 0xFF })
        #expect(!bus.write(address: 0, bytes: [UInt8](repeating: 0, count: count)))
        #expect(device.log.isEmpty)
    }

    @Test func manyDevicesAreAllFound() throws {
        var bus = Bus(space: .mmio)
        let devices = (0..<37).map { _ in RecordingDevice() }
        // Insert in a scrambled order to exercise the sorted insert.
        for index in (0..<37).map({ ($0 * 11) % 37 }) {
            try bus.insert(devices[index], base: 0xd000_0000 + UInt64(index) * 0x1000, length: 0x1000)
        }
        for (index, device) in devices.enumerated() {
            #expect(bus.write(address: 0xd000_0000 + UInt64(index) * 0x1000 + 0x70, bytes: [UInt8(index)]))
            #expect(device.log == [.init(isWrite: true, offset: 0x70, bytes: [UInt8(index)])])
        }
        #expect(!bus.read(address: 0xd000_0000 + 37 * 0x1000, count: 1).handled)
    }

    @Test func copiesTakenBeforeAnInsertDoNotSeeIt() throws {
        var bus = Bus(space: .portIO)
        try bus.insert(RecordingDevice(), base: 0x60, length: 1)
        let running = bus
        try bus.insert(RecordingDevice(), base: 0x70, length: 1)
        #expect(!running.read(address: 0x70, count: 1).handled)
        #expect(bus.read(address: 0x70, count: 1).handled)
    }
}
