/// A 16550A in a snapshot: its registers, the THRE latch and the receive FIFO. Transmitted
/// bytes still batched are written out before the save, so none is part of a snapshot;
/// the counters are the process's metrics and start again.
public struct SerialState: Equatable, Sendable {
    public var interruptEnable: UInt8
    public var lineControl: UInt8
    public var modemControl: UInt8
    public var scratch: UInt8
    public var divisor: UInt16
    public var fifosEnabled: Bool
    public var transmitterEmptyPending: Bool
    public var overrun: Bool
    /// Received bytes the guest has not read, oldest first.
    public var receiveFIFO: [UInt8]
    /// Host input was refused and the VMM waits for FIFO space to offer it again.
    public var inputWaiting: Bool

    public init(interruptEnable: UInt8, lineControl: UInt8, modemControl: UInt8, scratch: UInt8, divisor: UInt16,
                fifosEnabled: Bool, transmitterEmptyPending: Bool, overrun: Bool, receiveFIFO: [UInt8],
                inputWaiting: Bool) {
        self.interruptEnable = interruptEnable
        self.lineControl = lineControl
        self.modemControl = modemControl
        self.scratch = scratch
        self.divisor = divisor
        self.fifosEnabled = fifosEnabled
        self.transmitterEmptyPending = transmitterEmptyPending
        self.overrun = overrun
        self.receiveFIFO = receiveFIFO
        self.inputWaiting = inputWaiting
    }

    /// Values the register file can hold: IER and MCR keep only their defined bits.
    public func validate() throws(SnapshotStateError) {
        guard interruptEnable & ~UARTState.interruptEnableMask == 0 else {
            throw .invalidValue(field: "serial IER", value: UInt64(interruptEnable))
        }
        guard modemControl & ~UARTState.modemControlMask == 0 else {
            throw .invalidValue(field: "serial MCR", value: UInt64(modemControl))
        }
        guard receiveFIFO.count <= UARTState.receiveCapacity else {
            throw .tooMany(field: "serial receive FIFO", count: UInt64(receiveFIFO.count),
                           limit: UInt64(UARTState.receiveCapacity))
        }
    }
}

extension SerialState: StateCodable {
    public func encode(to writer: inout StateWriter) {
        writer.write(interruptEnable)
        writer.write(lineControl)
        writer.write(modemControl)
        writer.write(scratch)
        writer.write(divisor)
        writer.write(fifosEnabled)
        writer.write(transmitterEmptyPending)
        writer.write(overrun)
        writer.write(bytes: receiveFIFO)
        writer.write(inputWaiting)
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        self.init(interruptEnable: try reader.read(UInt8.self, "serial IER"),
                  lineControl: try reader.read(UInt8.self, "serial LCR"),
                  modemControl: try reader.read(UInt8.self, "serial MCR"),
                  scratch: try reader.read(UInt8.self, "serial scratch"),
                  divisor: try reader.read(UInt16.self, "serial divisor"),
                  fifosEnabled: try reader.readBool("serial FIFOs enabled"),
                  transmitterEmptyPending: try reader.readBool("serial THRE pending"),
                  overrun: try reader.readBool("serial overrun"),
                  receiveFIFO: try reader.readBytes("serial receive FIFO", limit: UARTState.receiveCapacity),
                  inputWaiting: try reader.readBool("serial input waiting"))
        try validate()
    }
}

extension Serial16550 {
    /// Writes out batched output, then reads the registers.
    public func saveState() -> SerialState {
        state.withLock { state in
            state.drainStagedOutput { output.write($0) }
            return state.saved
        }
    }

    /// Replaces the registers with `saved`'s, or throws and changes nothing.
    public func restore(_ saved: SerialState) throws(SnapshotStateError) {
        try saved.validate()
        guard let restored = UARTState(restoring: saved) else {
            throw .tooMany(field: "serial receive FIFO", count: UInt64(saved.receiveFIFO.count),
                           limit: UInt64(UARTState.receiveCapacity))
        }
        state.withLock { $0 = restored }
    }
}
