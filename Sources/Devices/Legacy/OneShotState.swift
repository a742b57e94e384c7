/// The boot timer, ACPI sleep control and pvpanic in a snapshot: whether their one event
/// (boot complete, power-off, panic) has happened, so a restored guest cannot fire it twice.
/// Restoring a fired latch does not call the device's callback again.
public struct OneShotState: Equatable, Sendable, StateCodable {
    public var fired: Bool

    public init(fired: Bool) { self.fired = fired }

    public func encode(to writer: inout StateWriter) { writer.write(fired) }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        self.init(fired: try reader.readBool("fired"))
    }
}

extension BootTimer {
    public func saveState() -> OneShotState { OneShotState(fired: fired.load(ordering: .acquiring)) }
    public func restore(_ saved: OneShotState) { fired.store(saved.fired, ordering: .releasing) }
}

extension ACPISleepControl {
    public func saveState() -> OneShotState { OneShotState(fired: fired.load(ordering: .acquiring)) }
    public func restore(_ saved: OneShotState) { fired.store(saved.fired, ordering: .releasing) }
}

extension PvPanic {
    public func saveState() -> OneShotState { OneShotState(fired: fired.load(ordering: .acquiring)) }
    public func restore(_ saved: OneShotState) { fired.store(saved.fired, ordering: .releasing) }
}
