import Devices
import Testing

@Suite struct I8042Tests {
    let keyboardIRQ = CountingInterruptLine()
    let resets = CallCounter()
    let i8042: I8042

    init() {
        i8042 = I8042(keyboardInterrupt: keyboardIRQ, onReset: resets.closure)
    }

    var status: UInt8 { i8042.readByte(I8042.commandOffset) }

    @Test func statusReportsAnEmptyOutputBuffer() {
        #expect(status & 0x01 == 0)
        #expect(status & 0x02 == 0)  // input buffer never full: writers never wait
    }

    @Test func resetPulseCallsTheClosure() {
        i8042.writeByte(I8042.commandOffset, 0xFE)
        #expect(resets.calls == 1)
        i8042.writeByte(I8042.commandOffset, 0xFE)
        #expect(resets.calls == 2)
    }

    @Test(arguments: [
        (I8042.commandOffset, 0x20), (I8042.commandOffset, 0xFF), (I8042.commandOffset, 0xD1),
        (I8042.dataOffset, 0xFE), (1, 0xFE), (3, 0xFE),
    ] as [(UInt64, UInt8)])
    func otherWritesDoNotReset(offset: UInt64, value: UInt8) {
        i8042.writeByte(offset, value)
        #expect(resets.calls == 0)
    }

    @Test func commandByteCanBeReadAndWritten() {
        i8042.writeByte(I8042.commandOffset, 0x20)
        #expect(status & 0x01 == 0x01)
        #expect(i8042.readByte(I8042.dataOffset) == 0x05)  // system flag, keyboard interrupt
        #expect(status & 0x01 == 0)

        i8042.writeByte(I8042.commandOffset, 0x60)
        i8042.writeByte(I8042.dataOffset, 0x44)
        i8042.writeByte(I8042.commandOffset, 0x20)
        #expect(i8042.readByte(I8042.dataOffset) == 0x44)
        #expect(keyboardIRQ.triggers == 0)  // controller replies are polled, not interrupts
    }

    @Test func selfTestPasses() {
        i8042.writeByte(I8042.commandOffset, 0xAA)
        #expect(i8042.readByte(I8042.dataOffset) == 0x55)
    }

    @Test func keyboardCommandsAreAcknowledgedWithAnInterrupt() {
        i8042.writeByte(I8042.dataOffset, 0xF4)  // enable scanning
        #expect(keyboardIRQ.triggers == 1)
        #expect(i8042.readByte(I8042.dataOffset) == 0xFA)

        i8042.writeByte(I8042.commandOffset, 0x60)
        i8042.writeByte(I8042.dataOffset, 0x04)  // keyboard interrupt off
        i8042.writeByte(I8042.dataOffset, 0xF4)
        #expect(keyboardIRQ.triggers == 1)
        #expect(i8042.readByte(I8042.dataOffset) == 0xFA)
    }

    @Test func ctrlAltDelIsQueuedAsScanCodes() {
        #expect(i8042.pressCtrlAltDel())
        #expect(keyboardIRQ.triggers == 1)
        var codes: [UInt8] = []
        while status & 0x01 != 0 { codes.append(i8042.readByte(I8042.dataOffset)) }
        #expect(codes == [0x14, 0x11, 0xE0, 0x71])
        #expect(keyboardIRQ.triggers == 4)  // one more per byte left behind
        #expect(resets.calls == 0)
    }
}
