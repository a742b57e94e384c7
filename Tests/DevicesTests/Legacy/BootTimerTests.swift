import Devices
import Testing

@Suite struct BootTimerTests {
    let boots = CallCounter()
    let timer: BootTimer

    init() {
        timer = BootTimer(onBootComplete: boots.closure)
    }

    @Test func firesOnceOn123() {
        timer.writeByte(0, 123)
        #expect(boots.calls == 1)
        #expect(timer.hasFired)
        timer.writeByte(0, 123)
        #expect(boots.calls == 1)
    }

    @Test(arguments: [
        (0, [122]), (0, [124]), (1, [123]), (0xFFF, [123]), (0, [123, 1]), (0, [0, 123]),
    ] as [(UInt64, [UInt8])])
    func ignoresOtherWrites(offset: UInt64, bytes: [UInt8]) {
        timer.writeBytes(offset, bytes)
        #expect(boots.calls == 0)
        #expect(!timer.hasFired)
    }

    @Test func acceptsAWiderWriteOf123() {
        timer.writeBytes(0, [123, 0, 0, 0])
        #expect(boots.calls == 1)
    }

    @Test func readsAreZero() {
        #expect(timer.readBytes(0, count: 8) == [UInt8](repeating: 0, count: 8))
        timer.writeByte(0, 123)
        #expect(timer.readBytes(0x10, count: 4) == [0, 0, 0, 0])
    }
}
