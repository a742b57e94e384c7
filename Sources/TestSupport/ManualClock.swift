import Synchronization

/// A monotonic nanosecond clock that moves only when the test says so, for `RateLimiter`.
public final class ManualClock: Sendable {
    private let nanoseconds: Atomic<UInt64>

    public init(start: UInt64 = 1_000_000_000) { nanoseconds = Atomic(start) }

    public var now: UInt64 { nanoseconds.load(ordering: .relaxed) }

    /// The closure a limiter takes as its clock.
    public var reading: @Sendable () -> UInt64 { { [self] in now } }

    public func advance(nanoseconds delta: UInt64) { nanoseconds.wrappingAdd(delta, ordering: .relaxed) }
    public func advance(milliseconds: UInt64) { advance(nanoseconds: milliseconds * 1_000_000) }
    public func set(_ value: UInt64) { nanoseconds.store(value, ordering: .relaxed) }
}
