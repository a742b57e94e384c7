/// The register file of a 16550A UART, with no locking, interrupt wiring or I/O of its own:
/// `Serial16550` wraps it. Offsets and bits follow the National Semiconductor PC16550D sheet.
///
/// Simplifications a guest cannot tell apart from a real part at any baud rate:
/// - transmission is instantaneous, so THRE and TEMT are always set and the THRE interrupt
///   re-arms as soon as THR is written;
/// - the receive FIFO holds `receiveCapacity` bytes in both FIFO and 16450 modes, and the
///   received-data interrupt is pending while any byte is waiting (this covers the FIFO
///   character-timeout interrupt too);
/// - modem lines never change outside loopback, so there is no modem-status interrupt.
struct UARTState {
    typealias ReceiveFIFO = ByteRing<64>
    static var receiveCapacity: Int { ReceiveFIFO.size }

    // Register offsets.
    static let dataRegister: UInt64 = 0            // RBR / THR, or DLL when DLAB is set
    static let interruptEnableRegister: UInt64 = 1 // IER, or DLM when DLAB is set
    static let interruptIdentRegister: UInt64 = 2  // IIR on read, FCR on write
    static let lineControlRegister: UInt64 = 3
    static let modemControlRegister: UInt64 = 4
    static let lineStatusRegister: UInt64 = 5
    static let modemStatusRegister: UInt64 = 6
    static let scratchRegister: UInt64 = 7

    // IER
    static let enableReceivedData: UInt8 = 0x01
    static let enableTransmitterEmpty: UInt8 = 0x02
    static let enableLineStatus: UInt8 = 0x04
    static let interruptEnableMask: UInt8 = 0x0F
    // IIR, highest priority first
    static let identLineStatus: UInt8 = 0x06
    static let identReceivedData: UInt8 = 0x04
    static let identTransmitterEmpty: UInt8 = 0x02
    static let identNone: UInt8 = 0x01
    static let identFIFOsEnabled: UInt8 = 0xC0
    // FCR
    static let fifoEnable: UInt8 = 0x01
    static let fifoClearReceive: UInt8 = 0x02
    // LCR
    static let divisorLatchAccess: UInt8 = 0x80
    // MCR
    static let modemControlMask: UInt8 = 0x1F
    static let loopback: UInt8 = 0x10
    // LSR
    static let dataReady: UInt8 = 0x01
    static let overrunError: UInt8 = 0x02
    static let transmitHoldingEmpty: UInt8 = 0x20
    static let transmitterEmpty: UInt8 = 0x40
    // MSR: a terminal that is present and ready (DCD, DSR, CTS), no ring.
    static let modemStatusConnected: UInt8 = 0xB0

    private(set) var interruptEnable: UInt8 = 0
    private(set) var lineControl: UInt8 = 0x03          // 8N1, as firmware would leave it
    private(set) var modemControl: UInt8 = 0x08         // OUT2: the PC gate for the IRQ line
    private(set) var scratch: UInt8 = 0
    private(set) var divisor: UInt16 = 12               // 9600 baud from a 1.8432 MHz clock
    private(set) var fifosEnabled = false
    /// The THRE interrupt is latched: set when THR empties (or ETBEI is turned on with THR
    /// empty), cleared by an IIR read that reports it or by writing THR.
    private var transmitterEmptyPending = false
    private var overrun = false
    private var receive = ReceiveFIFO()
    /// Set when host input was refused; cleared once the guest has drained the FIFO.
    private var inputWaiting = false

    /// Transmitted bytes are batched up to a line to spare the host a syscall per byte.
    private var staging = InlineArray<64, UInt8>(repeating: 0)
    private var stagedCount = 0
    private(set) var flushRequested = false

    private(set) var counters = SerialCounters()

    var isLoopback: Bool { modemControl & Self.loopback != 0 }
    private var divisorLatchSelected: Bool { lineControl & Self.divisorLatchAccess != 0 }

    var lineStatus: UInt8 {
        Self.transmitHoldingEmpty | Self.transmitterEmpty
            | (receive.isEmpty ? 0 : Self.dataReady)
            | (overrun ? Self.overrunError : 0)
    }

    /// The highest-priority enabled condition, as IIR bits 3:0.
    var interruptIdentification: UInt8 {
        if interruptEnable & Self.enableLineStatus != 0, overrun { return Self.identLineStatus }
        if interruptEnable & Self.enableReceivedData != 0, !receive.isEmpty { return Self.identReceivedData }
        if interruptEnable & Self.enableTransmitterEmpty != 0, transmitterEmptyPending {
            return Self.identTransmitterEmpty
        }
        return Self.identNone
    }

    /// The level of the UART's INTR output.
    var interruptPending: Bool { interruptIdentification != Self.identNone }

    var modemStatus: UInt8 {
        guard isLoopback else { return Self.modemStatusConnected }
        // In loopback the modem outputs feed the inputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
        let mcr = modemControl
        return (mcr & 0x02) << 3 | (mcr & 0x01) << 5 | (mcr & 0x04) << 4 | (mcr & 0x08) << 4
    }

    mutating func read(_ offset: UInt64) -> UInt8 {
        switch offset {
        case Self.dataRegister:
            if divisorLatchSelected { return UInt8(truncatingIfNeeded: divisor) }
            // An empty RBR reads as 0; the guest should have checked DR.
            return receive.pop() ?? 0
        case Self.interruptEnableRegister:
            if divisorLatchSelected { return UInt8(truncatingIfNeeded: divisor >> 8) }
            return interruptEnable
        case Self.interruptIdentRegister:
            let ident = interruptIdentification
            if ident == Self.identTransmitterEmpty { transmitterEmptyPending = false }
            return ident | (fifosEnabled ? Self.identFIFOsEnabled : 0)
        case Self.lineControlRegister:
            return lineControl
        case Self.modemControlRegister:
            return modemControl
        case Self.lineStatusRegister:
            let status = lineStatus
            overrun = false
            return status
        case Self.modemStatusRegister:
            return modemStatus
        case Self.scratchRegister:
            return scratch
        default:
            return 0xFF
        }
    }

    mutating func write(_ offset: UInt64, _ value: UInt8) {
        switch offset {
        case Self.dataRegister:
            if divisorLatchSelected {
                divisor = divisor & 0xFF00 | UInt16(value)
            } else {
                transmit(value)
            }
        case Self.interruptEnableRegister:
            if divisorLatchSelected {
                divisor = divisor & 0x00FF | UInt16(value) << 8
            } else {
                setInterruptEnable(value)
            }
        case Self.interruptIdentRegister:
            setFIFOControl(value)
        case Self.lineControlRegister:
            lineControl = value
        case Self.modemControlRegister:
            modemControl = value & Self.modemControlMask
        case Self.scratchRegister:
            scratch = value
        default:
            // LSR and MSR writes are a factory-test feature; ignoring them is allowed.
            break
        }
    }

    private mutating func transmit(_ byte: UInt8) {
        if isLoopback {
            if !receive.push(byte) {
                overrun = true
                counters.overruns += 1
            }
        } else {
            staging[stagedCount] = byte
            stagedCount += 1
            counters.transmittedBytes += 1
            if byte == UInt8(ascii: "\n") || stagedCount == staging.count { flushRequested = true }
        }
        transmitterEmptyPending = true
    }

    private mutating func setInterruptEnable(_ value: UInt8) {
        let newlyEnabled = value & ~interruptEnable
        interruptEnable = value & Self.interruptEnableMask
        // A real THR is empty here, so enabling ETBEI raises THRE at once. Linux probes for
        // this and falls back to a slow timer-driven console if it does not happen.
        if newlyEnabled & Self.enableTransmitterEmpty != 0 { transmitterEmptyPending = true }
        // Drivers toggle IER around a burst of output (Linux's console write restores it, its
        // tty layer clears ETBEI when its buffer empties): a good moment to show a partial line.
        if stagedCount > 0 { flushRequested = true }
    }

    private mutating func setFIFOControl(_ value: UInt8) {
        let enable = value & Self.fifoEnable != 0
        // Changing FIFO mode resets the FIFOs; the clear bit only works with FIFOs enabled.
        if enable != fifosEnabled || (enable && value & Self.fifoClearReceive != 0) {
            receive.removeAll()
        }
        fifosEnabled = enable
    }

    /// Host input into the receive FIFO: takes what fits, none in loopback (the serial input
    /// pin is disconnected then).
    mutating func enqueue(_ input: UnsafeRawBufferPointer) -> Int {
        let accepted = isLoopback ? 0 : min(receive.freeSpace, input.count)
        for index in 0..<accepted { receive.push(input[index]) }
        counters.receivedBytes += UInt64(accepted)
        if accepted < input.count {
            counters.missedInputBytes += UInt64(input.count - accepted)
            inputWaiting = true
        }
        return accepted
    }

    /// True once per refusal of host input, when the guest has emptied the FIFO.
    mutating func takeReceiveSpaceSignal() -> Bool {
        guard inputWaiting, receive.isEmpty, !isLoopback else { return false }
        inputWaiting = false
        return true
    }

    /// Hands the batched transmit bytes to `sink` and empties the batch.
    mutating func drainStagedOutput(_ sink: (UnsafeRawBufferPointer) -> Void) {
        flushRequested = false
        guard stagedCount > 0 else { return }
        let count = stagedCount
        stagedCount = 0
        withUnsafeBytes(of: &staging) { sink(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
    }
}

/// What a serial port has done since it was created. Counts, not rates.
public struct SerialCounters: Equatable, Sendable {
    /// Bytes the guest transmitted to the output (loopback bytes excluded).
    public var transmittedBytes: UInt64 = 0
    /// Host input bytes accepted into the receive FIFO.
    public var receivedBytes: UInt64 = 0
    /// Host input bytes refused because the FIFO was full (or in loopback); a byte the VMM
    /// offers again later is counted each time it is refused.
    public var missedInputBytes: UInt64 = 0
    /// Bytes lost to a full receive FIFO in loopback mode (LSR overrun).
    public var overruns: UInt64 = 0

    public init() {}
}

extension UARTState {
    /// The registers as a snapshot keeps them. Output still batched must have been drained.
    var saved: SerialState {
        SerialState(interruptEnable: interruptEnable, lineControl: lineControl, modemControl: modemControl,
                    scratch: scratch, divisor: divisor, fifosEnabled: fifosEnabled,
                    transmitterEmptyPending: transmitterEmptyPending, overrun: overrun,
                    receiveFIFO: receive.contents, inputWaiting: inputWaiting)
    }

    /// The UART `state` describes (checked by `SerialState.validate`); counters start again.
    init?(restoring state: SerialState) {
        guard let receive = ReceiveFIFO(contents: state.receiveFIFO) else { return nil }
        self.init()
        interruptEnable = state.interruptEnable
        lineControl = state.lineControl
        modemControl = state.modemControl
        scratch = state.scratch
        divisor = state.divisor
        fifosEnabled = state.fifosEnabled
        transmitterEmptyPending = state.transmitterEmptyPending
        overrun = state.overrun
        self.receive = receive
        inputWaiting = state.inputWaiting
    }
}
