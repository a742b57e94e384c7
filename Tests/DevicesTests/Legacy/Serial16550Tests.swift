#if canImport(Glibc)
import Glibc
#endif
import Devices
import Testing

private enum Register {
    static let data: UInt64 = 0, ier: UInt64 = 1, iir: UInt64 = 2, fcr: UInt64 = 2
    static let lcr: UInt64 = 3, mcr: UInt64 = 4, lsr: UInt64 = 5, msr: UInt64 = 6, scr: UInt64 = 7
}

private let noInterrupt: UInt8 = 0x01
private let thrEmpty: UInt8 = 0x02
private let receivedData: UInt8 = 0x04
private let lineStatusChange: UInt8 = 0x06

@Suite struct Serial16550Tests {
    let irq = CountingInterruptLine()
    let output = CapturingOutput()
    let spaceSignals = CallCounter()
    let serial: Serial16550

    init() {
        serial = Serial16550(interrupt: irq, output: output, onReceiveSpace: spaceSignals.closure)
    }

    func send(_ text: String) {
        for byte in text.utf8 { serial.writeByte(Register.data, byte) }
    }

    @discardableResult
    func enqueue(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { serial.enqueue(input: $0) }
    }

    @Test func transmittedBytesReachTheOutput() {
        send("Linux version 6.1\n")
        #expect(output.text == "Linux version 6.1\n")
        send("login: ")
        serial.flush()
        #expect(output.text == "Linux version 6.1\nlogin: ")
        #expect(serial.counters.transmittedBytes == 25)
    }

    @Test func outputIsBatchedByLineAndShownOnIERWrite() {
        send("abc")
        #expect(output.bytes.isEmpty)
        serial.writeByte(Register.ier, 0)
        #expect(output.text == "abc")
        send("de\n")
        #expect(output.text == "abcde\n")
        #expect(output.chunks == 2)
        send(String(repeating: "x", count: 130))
        #expect(output.bytes.count == 6 + 128)
        serial.flush()
        #expect(output.bytes.count == 6 + 130)
    }

    @Test func resetValues() {
        #expect(serial.readByte(Register.lsr) == 0x60)  // THRE | TEMT
        #expect(serial.readByte(Register.iir) == noInterrupt)
        #expect(serial.readByte(Register.ier) == 0)
        #expect(serial.readByte(Register.lcr) == 0x03)
        #expect(serial.readByte(Register.mcr) == 0x08)
        #expect(serial.readByte(Register.msr) == 0xB0)
        #expect(irq.triggers == 0)
    }

    @Test func scratchRegisterHoldsItsValue() {
        serial.writeByte(Register.scr, 0x5A)
        #expect(serial.readByte(Register.scr) == 0x5A)
    }

    @Test func divisorLatchIsNotTransmitted() {
        serial.writeByte(Register.lcr, 0x83)  // DLAB, 8N1
        serial.writeByte(Register.data, 0x01)  // DLL: 115200 baud
        serial.writeByte(Register.ier, 0x00)   // DLM
        #expect(serial.readByte(Register.data) == 0x01)
        #expect(serial.readByte(Register.ier) == 0x00)
        serial.writeByte(Register.ier, 0x02)
        #expect(serial.readByte(Register.ier) == 0x02)
        serial.writeByte(Register.lcr, 0x03)
        // The divisor writes touched neither THR nor IER.
        #expect(serial.readByte(Register.ier) == 0)
        serial.flush()
        #expect(output.bytes.isEmpty)
        #expect(serial.counters.transmittedBytes == 0)
        #expect(irq.triggers == 0)
        serial.writeByte(Register.lcr, 0x83)
        #expect(serial.readByte(Register.data) == 0x01)
        #expect(serial.readByte(Register.ier) == 0x02)
    }

    @Test func enablingTHREInterruptRaisesItAndReadingIIRClearsIt() {
        serial.writeByte(Register.ier, 0x02)
        #expect(irq.triggers == 1)
        #expect(serial.readByte(Register.iir) == thrEmpty)
        #expect(serial.readByte(Register.iir) == noInterrupt)

        // Every write re-arms THRE; a write while it is still pending raises nothing new.
        serial.writeByte(Register.data, UInt8(ascii: "a"))
        #expect(irq.triggers == 2)
        serial.writeByte(Register.data, UInt8(ascii: "b"))
        #expect(irq.triggers == 2)
        #expect(serial.readByte(Register.iir) == thrEmpty)
        #expect(serial.readByte(Register.iir) == noInterrupt)
    }

    @Test func thrEmptyIsNotRaisedWhenDisabled() {
        send("quiet\n")
        #expect(irq.triggers == 0)
        #expect(serial.readByte(Register.iir) == noInterrupt)
        // Linux's THRE probe: toggling ETBEI must raise THRE each time.
        serial.writeByte(Register.ier, 0x02)
        #expect(serial.readByte(Register.iir) == thrEmpty)
        serial.writeByte(Register.ier, 0x00)
        serial.writeByte(Register.ier, 0x02)
        #expect(serial.readByte(Register.iir) == thrEmpty)
        #expect(irq.triggers == 2)
    }

    @Test func receivedBytesAreReadInOrderWithDataReady() {
        #expect(enqueue(Array("ls\n".utf8)) == 3)
        #expect(serial.readByte(Register.lsr) & 0x01 == 0x01)
        #expect(serial.readByte(Register.data) == UInt8(ascii: "l"))
        #expect(serial.readByte(Register.data) == UInt8(ascii: "s"))
        #expect(serial.readByte(Register.lsr) & 0x01 == 0x01)
        #expect(serial.readByte(Register.data) == UInt8(ascii: "\n"))
        #expect(serial.readByte(Register.lsr) == 0x60)
        #expect(serial.counters.receivedBytes == 3)
        #expect(irq.triggers == 0)  // ERBFI is off
    }

    @Test func receivedDataRaisesItsInterruptOnce() {
        serial.writeByte(Register.ier, 0x01)
        enqueue([1])
        #expect(irq.triggers == 1)
        enqueue([2])
        #expect(irq.triggers == 1)  // still pending: no new edge
        #expect(serial.readByte(Register.iir) == receivedData)
        #expect(serial.readByte(Register.iir) == receivedData)  // IIR read does not clear it
        _ = serial.readBytes(Register.data, count: 1)
        _ = serial.readBytes(Register.data, count: 1)
        #expect(serial.readByte(Register.iir) == noInterrupt)
        enqueue([3])
        #expect(irq.triggers == 2)
    }

    @Test func receivedDataTakesPriorityOverTHREmpty() {
        serial.writeByte(Register.ier, 0x03)
        #expect(irq.triggers == 1)
        enqueue([0x41])
        #expect(irq.triggers == 1)  // the line was already up for THRE
        #expect(serial.readByte(Register.iir) == receivedData)
        #expect(serial.readByte(Register.data) == 0x41)
        #expect(serial.readByte(Register.iir) == thrEmpty)
        #expect(serial.readByte(Register.iir) == noInterrupt)
    }

    @Test func fullFIFOTakesPartOfTheInputAndSignalsWhenDrained() {
        let capacity = Serial16550.receiveFIFOCapacity
        let input = (0..<100).map { UInt8($0) }
        #expect(enqueue(input) == capacity)
        #expect(enqueue(Array(input[capacity...])) == 0)
        #expect(serial.counters.receivedBytes == UInt64(capacity))
        #expect(serial.counters.missedInputBytes == UInt64(100 - capacity) * 2)

        for expected in 0..<capacity - 1 {
            #expect(serial.readByte(Register.data) == UInt8(expected))
        }
        #expect(spaceSignals.calls == 0)
        #expect(serial.readByte(Register.data) == UInt8(capacity - 1))
        #expect(spaceSignals.calls == 1)
        #expect(enqueue(Array(input[capacity...])) == 100 - capacity)
        #expect(serial.readByte(Register.data) == UInt8(capacity))
        #expect(spaceSignals.calls == 1)  // nothing was refused this time
    }

    @Test func loopbackSendsTransmitToReceiver() {
        serial.writeByte(Register.ier, 0x01)
        serial.writeByte(Register.mcr, 0x10 | 0x0A)  // LOOP, OUT2, RTS
        #expect(serial.readByte(Register.msr) & 0xF0 == 0x90)  // DCD, CTS: Linux's UART probe
        serial.writeByte(Register.data, 0x55)
        #expect(irq.triggers == 1)
        #expect(serial.readByte(Register.lsr) & 0x01 == 0x01)
        #expect(serial.readByte(Register.data) == 0x55)
        #expect(enqueue([1, 2, 3]) == 0)  // the input pin is disconnected
        serial.flush()
        #expect(output.bytes.isEmpty)

        serial.writeByte(Register.mcr, 0x08)
        #expect(serial.readByte(Register.msr) == 0xB0)
        #expect(enqueue([1, 2, 3]) == 3)
    }

    @Test func loopbackOverrunSetsAndClearsOE() {
        serial.writeByte(Register.mcr, 0x10)
        serial.writeByte(Register.ier, 0x04)  // line status only
        for byte in 0...Serial16550.receiveFIFOCapacity { serial.writeByte(Register.data, UInt8(byte)) }
        #expect(irq.triggers == 1)
        #expect(serial.readByte(Register.iir) == lineStatusChange)
        #expect(serial.readByte(Register.lsr) & 0x03 == 0x03)  // OE | DR
        #expect(serial.readByte(Register.lsr) & 0x03 == 0x01)
        #expect(serial.readByte(Register.iir) == noInterrupt)
        #expect(serial.counters.overruns == 1)
    }

    @Test func fifoControlReportsFIFOsAndClearsReceiver() {
        serial.writeByte(Register.fcr, 0x01)
        #expect(serial.readByte(Register.iir) == 0xC0 | noInterrupt)
        enqueue([1, 2])
        serial.writeByte(Register.fcr, 0x03)
        #expect(serial.readByte(Register.lsr) & 0x01 == 0)
        serial.writeByte(Register.fcr, 0x00)
        #expect(serial.readByte(Register.iir) == noInterrupt)
    }

    @Test func wideAccessActsAsByteAccesses() {
        serial.writeByte(Register.ier, 0x05)
        enqueue([0x7A])
        #expect(serial.readBytes(Register.data, count: 2) == [0x7A, 0x05])
        #expect(serial.readBytes(Register.scr, count: 2) == [0x00, 0xFF])
    }

    @Test func concurrentWritersLoseNoBytes() async {
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<4 {
                group.addTask { [serial] in
                    for _ in 0..<500 { serial.writeByte(Register.data, UInt8(ascii: "a") + UInt8(writer)) }
                }
            }
            group.addTask { [serial] in
                for _ in 0..<500 {
                    _ = [UInt8(1)].withUnsafeBytes { serial.enqueue(input: $0) }
                    _ = serial.readByte(Register.data)
                }
            }
        }
        serial.flush()
        #expect(output.bytes.count == 2000)
        for writer in 0..<4 {
            #expect(output.bytes.filter { $0 == UInt8(ascii: "a") + UInt8(writer) }.count == 500)
        }
    }

    @Test func fileDescriptorOutputWritesEveryByte() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let serial = Serial16550(interrupt: irq, output: FileDescriptorOutput(fileDescriptor: fds[1]))
        for byte in "boot ok\n".utf8 { serial.writeByte(Register.data, byte) }
        close(fds[1])
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fds[0], $0.baseAddress, $0.count) }
        #expect(String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self) == "boot ok\n")
    }
}
