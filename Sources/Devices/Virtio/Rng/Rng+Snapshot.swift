/// virtio-rng in a snapshot: only its rate limiter. It holds no chains between passes.
public struct RngState: Equatable, Sendable {
    public var rateLimiter: RateLimiterState

    public init(rateLimiter: RateLimiterState) { self.rateLimiter = rateLimiter }
}

extension RngState: StateCodable {
    public func encode(to writer: inout StateWriter) { rateLimiter.encode(to: &writer) }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        self.init(rateLimiter: try RateLimiterState(from: &reader))
    }
}

extension Rng: SnapshotableDevice {
    public func saveState() -> RngState { RngState(rateLimiter: rateLimiter.saveState()) }

    public func validateRestore(_ state: RngState, context: RestoreContext) throws(SnapshotStateError) {
        try state.rateLimiter.validate(field: "entropy rate limiter")
    }

    public func applyRestore(_ state: RngState, context: RestoreContext) {
        rateLimiter.restore(state.rateLimiter)
    }
}
