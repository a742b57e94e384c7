import Devices
import Testing

@Suite struct LegacySnapshotTests {
    @Test func serialKeepsRegistersAndUnreadInput() throws {
        let output = CapturingOutput()
        let serial = Serial16550(interrupt: CountingInterruptLine(), output: output)
        serial.writeByte(3, 0x80)  // DLAB
        serial.writeByte(0, 0x01)
        serial.writeByte(3, 0x1B)  // 8E1, DLAB off
        serial.writeByte(1, 0x05)
        serial.writeByte(7, 0x99)
        serial.writeByte(0, UInt8(ascii: "h"))  // batched, no newline yet
        #expect(Array("abc".utf8).withUnsafeBytes { serial.enqueue(input: $0) } == 3)
        #expect(serial.readByte(0) == UInt8(ascii: "a"))
        let saved = serial.saveState()
        #expect(output.text == "h")  // flushed by the save
        #expect(saved.receiveFIFO == Array("bc".utf8))
        let decoded = try reencoded(saved)
        expectHostileEncodingsRefused(decoded, SerialState.self)

        let restored = Serial16550(interrupt: CountingInterruptLine(), output: CapturingOutput())
        try restored.restore(decoded)
        #expect(restored.readByte(3) == 0x1B)
        #expect(restored.readByte(1) == 0x05)
        #expect(restored.readByte(7) == 0x99)
        #expect(restored.readByte(0) == UInt8(ascii: "b"))
        #expect(restored.readByte(0) == UInt8(ascii: "c"))
        #expect(restored.readByte(5) & 0x01 == 0)  // FIFO empty
        restored.writeByte(3, 0x9B)
        #expect(restored.readByte(0) == 0x01)  // the divisor came along
        #expect(restored.saveState().divisor == 1)
    }

    @Test func serialRefusesImpossibleRegisters() throws {
        let serial = Serial16550(interrupt: CountingInterruptLine(), output: CapturingOutput())
        var state = serial.saveState()
        state.interruptEnable = 0xF0
        #expect(throws: SnapshotStateError.invalidValue(field: "serial IER", value: 0xF0)) { try serial.restore(state) }
        state.interruptEnable = 0
        state.receiveFIFO = [UInt8](repeating: 1, count: 65)
        #expect(throws: SnapshotStateError.self) { try serial.restore(state) }
        #expect(throws: SnapshotStateError.self) { try SerialState(decoding: state.encoded) }
        #expect(serial.saveState().receiveFIFO.isEmpty)  // unchanged
    }

    @Test func i8042KeepsControlAndPendingBytes() throws {
        let i8042 = I8042(onReset: {})
        i8042.writeByte(I8042.commandOffset, 0x60)  // write control
        i8042.writeByte(I8042.dataOffset, 0x45)
        #expect(i8042.pressCtrlAltDel())
        let saved = i8042.saveState()
        #expect(saved.control == 0x45 && saved.output == [0x14, 0x11, 0xE0, 0x71])
        let decoded = try reencoded(saved)
        expectHostileEncodingsRefused(decoded, I8042SavedState.self)
        let restored = I8042(onReset: {})
        try restored.restore(decoded)
        #expect(restored.readByte(I8042.commandOffset) & 0x01 == 0x01)  // output full
        #expect(restored.readBytes(I8042.dataOffset, count: 1) == [0x14])
        restored.writeByte(I8042.commandOffset, 0x20)
        #expect(restored.readByte(I8042.dataOffset) == 0x45)
        var bad = saved
        bad.statusFlags = 0xFF
        #expect(throws: SnapshotStateError.invalidValue(field: "i8042 status", value: 0xFF)) { try restored.restore(bad) }
    }

    @Test func oneShotsStayFired() throws {
        let calls = CallCounter()
        let timer = BootTimer(onBootComplete: calls.closure)
        timer.writeByte(0, BootTimer.bootCompleteValue)
        let restored = BootTimer(onBootComplete: calls.closure)
        restored.restore(try reencoded(timer.saveState()))
        #expect(restored.hasFired && calls.calls == 1)
        restored.writeByte(0, BootTimer.bootCompleteValue)
        #expect(calls.calls == 1)
        #expect(throws: SnapshotStateError.invalidValue(field: "fired", value: 2)) { try OneShotState(decoding: [2]) }
    }
}
