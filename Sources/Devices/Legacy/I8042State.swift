/// Registers of the i8042 model behind `I8042`, with no locking or wiring of its own.
struct I8042State {
    enum Effect {
        case none
        /// A byte for the guest's keyboard driver is waiting: raise IRQ 1 if enabled.
        case keyboardData
        case resetCPU
    }

    // Controller commands (written to the command port).
    static let readControl: UInt8 = 0x20
    static let writeControl: UInt8 = 0x60
    static let disableKeyboard: UInt8 = 0xAD
    static let enableKeyboard: UInt8 = 0xAE
    static let selfTest: UInt8 = 0xAA
    static let keyboardInterfaceTest: UInt8 = 0xAB
    static let readOutputPort: UInt8 = 0xD0
    static let writeOutputPort: UInt8 = 0xD1
    static let pulseResetLine: UInt8 = 0xFE

    // Status register.
    static let outputFull: UInt8 = 0x01
    static let systemFlag: UInt8 = 0x04
    static let expectingCommandData: UInt8 = 0x08
    static let keyboardUnlocked: UInt8 = 0x10

    // Control register (the "command byte").
    static let keyboardInterruptEnabled: UInt8 = 0x01
    static let keyboardDisabled: UInt8 = 0x10

    static let selfTestPassed: UInt8 = 0x55
    static let interfaceTestPassed: UInt8 = 0x00
    static let keyboardAcknowledge: UInt8 = 0xFA
    /// Scan code set 2 make codes: Ctrl, Alt, then the extended Delete (E0 71).
    static let ctrlAltDelete: [UInt8] = [0x14, 0x11, 0xE0, 0x71]

    private var statusFlags: UInt8 = systemFlag | keyboardUnlocked
    private(set) var control: UInt8 = systemFlag | keyboardInterruptEnabled
    private var outputPort: UInt8 = 0
    private var pendingCommand: UInt8 = 0
    private var output = ByteRing<16>()

    var status: UInt8 { statusFlags | (output.isEmpty ? 0 : Self.outputFull) }

    /// The byte read, and whether another byte is still waiting for the keyboard driver.
    mutating func read(_ offset: UInt64) -> (UInt8, Bool) {
        switch offset {
        case I8042.commandOffset:
            return (status, false)
        case I8042.dataOffset:
            // An empty output buffer reads as 0, as on Firecracker.
            let byte = output.pop() ?? 0
            return (byte, !output.isEmpty && control & Self.keyboardInterruptEnabled != 0)
        default:
            return (0xFF, false)
        }
    }

    mutating func write(_ offset: UInt64, _ value: UInt8) -> Effect {
        switch offset {
        case I8042.commandOffset:
            return command(value)
        case I8042.dataOffset where statusFlags & Self.expectingCommandData != 0:
            statusFlags &= ~Self.expectingCommandData
            switch pendingCommand {
            case Self.writeControl: control = value
            case Self.writeOutputPort: outputPort = value
            default: break
            }
            return .none
        case I8042.dataOffset:
            // A command for the keyboard itself: acknowledge whatever it is.
            reply(Self.keyboardAcknowledge)
            return control & Self.keyboardInterruptEnabled != 0 ? .keyboardData : .none
        default:
            return .none
        }
    }

    private mutating func command(_ value: UInt8) -> Effect {
        switch value {
        case Self.pulseResetLine:
            return .resetCPU
        case Self.readControl:
            reply(control)
        case Self.readOutputPort:
            reply(outputPort)
        case Self.writeControl, Self.writeOutputPort:
            output.removeAll()
            pendingCommand = value
            statusFlags |= Self.expectingCommandData
        case Self.selfTest:
            reply(Self.selfTestPassed)
        case Self.keyboardInterfaceTest:
            reply(Self.interfaceTestPassed)
        case Self.disableKeyboard:
            control |= Self.keyboardDisabled
        case Self.enableKeyboard:
            control &= ~Self.keyboardDisabled
        default:
            break
        }
        return .none
    }

    /// Replies replace anything unread, so the next data-port read is the answer to the
    /// command just issued.
    private mutating func reply(_ byte: UInt8) {
        output.removeAll()
        output.push(byte)
    }

    /// Queues scan codes all-or-nothing: `.none` if there was no room for all of them.
    mutating func pushKeys(_ codes: [UInt8]) -> (queued: Bool, effect: Effect) {
        guard output.freeSpace >= codes.count else { return (false, .none) }
        for code in codes { output.push(code) }
        return (true, control & Self.keyboardInterruptEnabled != 0 ? .keyboardData : .none)
    }
}

extension I8042State {
    var saved: I8042SavedState {
        I8042SavedState(statusFlags: statusFlags, control: control, outputPort: outputPort,
                        pendingCommand: pendingCommand, output: output.contents)
    }

    /// The controller `state` describes (checked by `I8042SavedState.validate`).
    init?(restoring state: I8042SavedState) {
        guard let output = ByteRing<16>(contents: state.output) else { return nil }
        self.init()
        statusFlags = state.statusFlags
        control = state.control
        outputPort = state.outputPort
        pendingCommand = state.pendingCommand
        self.output = output
    }
}
