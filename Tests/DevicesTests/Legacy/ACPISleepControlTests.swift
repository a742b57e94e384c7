import Devices
import Testing

@Suite struct ACPISleepControlTests {
    let powerOffs = CallCounter()
    let control: ACPISleepControl

    init() {
        control = ACPISleepControl(onPowerOff: powerOffs.closure)
    }

    @Test func linuxPowerOffSequenceFiresOnce() {
        // hwesleep.c: WAK_STS to the status register, then SLP_TYP 5 << 2 | SLP_EN to control.
        control.writeByte(0, 0x80)
        #expect(powerOffs.calls == 0)
        control.writeByte(0, 5 << 2 | 1 << 5)
        #expect(powerOffs.calls == 1)
        #expect(control.hasPoweredOff)
        control.writeByte(0, 0x34)
        #expect(powerOffs.calls == 1)
    }

    @Test(arguments: [
        0x00, 0x14,                 // S5 type without SLP_EN
        0x20, 0x24, 0x2c, 0x30, 0x3c,  // SLP_EN with types 0, 1, 3, 4, 7
        0x80, 0xff & ~0x20,
    ] as [UInt8])
    func otherValuesAreIgnored(value: UInt8) {
        control.writeByte(0, value)
        #expect(powerOffs.calls == 0)
        #expect(!control.hasPoweredOff)
    }

    @Test func reservedBitsDoNotMatter() {
        #expect(ACPISleepControl.requestsPowerOff(0x34 | 0x80 | 0x40 | 0x03))
        control.writeBytes(0, [0x34, 0xff])  // a wider write: the first byte is the register
        #expect(powerOffs.calls == 1)
    }

    @Test func writesElsewhereAreIgnored() {
        control.writeByte(1, 0x34)
        control.writeBytes(0, [])
        #expect(powerOffs.calls == 0)
    }

    @Test func readsAreZero() {
        #expect(control.readByte(0) == 0)
        #expect(control.readBytes(0, count: 4) == [0, 0, 0, 0])
    }

    @Test func softOffTypeMatchesTheDSDT() {
        // X86Boot's DSDT puts 5 in \_S5_ (ACPILayout.s5SleepType); Devices cannot import it.
        #expect(ACPISleepControl.softOffSleepType == 5)
    }
}
