import Devices
import Synchronization
import Testing

/// Keeps the values handed to `onPanic`.
final class PanicRecorder: Sendable {
    private let values = Mutex<[UInt8]>([])
    var recorded: [UInt8] { values.withLock { $0 } }
    var closure: @Sendable (UInt8) -> Void { { [self] value in values.withLock { $0.append(value) } } }
}

@Suite struct PvPanicTests {
    let panics = PanicRecorder()
    let device: PvPanic

    init() {
        device = PvPanic(onPanic: panics.closure)
    }

    @Test func readReportsSupportedEvents() {
        // pvpanic.c: capability = (PANICKED | CRASH_LOADED) & ioread8(base).
        #expect(device.readByte(0) == 0b11)
        #expect(device.readBytes(0, count: 4) == [0b11, 0, 0, 0])
        #expect(device.readBytes(1, count: 2) == [0, 0])
    }

    @Test func panickedFiresOnceWithTheValue() {
        device.writeByte(0, PvPanic.panicked)
        #expect(panics.recorded == [1])
        #expect(device.hasPanicked)
        device.writeByte(0, PvPanic.panicked)
        #expect(panics.recorded == [1])
    }

    @Test func anyValueWithBit0Counts() {
        device.writeByte(0, 0b11)
        #expect(panics.recorded == [0b11])
    }

    @Test(arguments: [0x00, 0x02, 0x04, 0xfe] as [UInt8])
    func valuesWithoutPanickedAreIgnored(value: UInt8) {
        // CRASH_LOADED alone means a kdump kernel takes over: the guest goes on running.
        device.writeByte(0, value)
        #expect(panics.recorded.isEmpty)
        #expect(!device.hasPanicked)
    }

    @Test func writesElsewhereAreIgnored() {
        device.writeByte(1, 1)
        device.writeBytes(0, [])
        #expect(panics.recorded.isEmpty)
    }
}
