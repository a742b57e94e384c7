import Devices
import Synchronization

/// Counts `trigger()` calls instead of raising an IRQ.
public final class MockInterruptLine: InterruptLine {
    private let count = Atomic<Int>(0)
    public init() {}
    public func trigger() { count.add(1, ordering: .relaxed) }
    public var triggers: Int { count.load(ordering: .relaxed) }
}
