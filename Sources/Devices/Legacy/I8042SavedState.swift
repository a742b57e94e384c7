/// The i8042 in a snapshot: status flags, the control byte, the output port, a command
/// waiting for its data byte, and the bytes waiting for the guest to read.
public struct I8042SavedState: Equatable, Sendable {
    /// The status register without OBF (which follows from `output`).
    public var statusFlags: UInt8
    public var control: UInt8
    public var outputPort: UInt8
    public var pendingCommand: UInt8
    public var output: [UInt8]

    static let outputCapacity = 16

    public init(statusFlags: UInt8, control: UInt8, outputPort: UInt8, pendingCommand: UInt8, output: [UInt8]) {
        self.statusFlags = statusFlags
        self.control = control
        self.outputPort = outputPort
        self.pendingCommand = pendingCommand
        self.output = output
    }

    public func validate() throws(SnapshotStateError) {
        let flags = I8042State.systemFlag | I8042State.keyboardUnlocked | I8042State.expectingCommandData
        guard statusFlags & ~flags == 0 else { throw .invalidValue(field: "i8042 status", value: UInt64(statusFlags)) }
        guard output.count <= Self.outputCapacity else {
            throw .tooMany(field: "i8042 output", count: UInt64(output.count), limit: UInt64(Self.outputCapacity))
        }
    }
}

extension I8042SavedState: StateCodable {
    public func encode(to writer: inout StateWriter) {
        writer.write(statusFlags)
        writer.write(control)
        writer.write(outputPort)
        writer.write(pendingCommand)
        writer.write(bytes: output)
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        self.init(statusFlags: try reader.read(UInt8.self, "i8042 status"),
                  control: try reader.read(UInt8.self, "i8042 control"),
                  outputPort: try reader.read(UInt8.self, "i8042 output port"),
                  pendingCommand: try reader.read(UInt8.self, "i8042 pending command"),
                  output: try reader.readBytes("i8042 output", limit: Self.outputCapacity))
        try validate()
    }
}

extension I8042 {
    public func saveState() -> I8042SavedState { state.withLock { $0.saved } }

    /// Replaces the controller's state with `saved`'s, or throws and changes nothing.
    public func restore(_ saved: I8042SavedState) throws(SnapshotStateError) {
        try saved.validate()
        guard let restored = I8042State(restoring: saved) else {
            throw .tooMany(field: "i8042 output", count: UInt64(saved.output.count),
                           limit: UInt64(I8042SavedState.outputCapacity))
        }
        state.withLock { $0 = restored }
    }
}
