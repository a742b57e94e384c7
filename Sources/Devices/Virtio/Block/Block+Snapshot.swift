import GuestMemory
#if canImport(Glibc)
import Glibc
#endif

/// virtio-blk in a snapshot: what the guest read from config space and the rate limiter's
/// balances. The backing file is the machine's configuration, not device state, and the I/O
/// engine is the host's choice: neither is saved. Requests in flight are finished before the
/// save (`completeInFlight`), so none is ever part of a snapshot.
public struct BlockState: Equatable, Sendable {
    /// Config space as the driver reads it: capacity, size_max, seg_max.
    public var config: [UInt8]
    public var isReadOnly: Bool
    public var rateLimiter: RateLimiterState

    public init(config: [UInt8], isReadOnly: Bool, rateLimiter: RateLimiterState) {
        self.config = config
        self.isReadOnly = isReadOnly
        self.rateLimiter = rateLimiter
    }
}

extension BlockState: StateCodable {
    public func encode(to writer: inout StateWriter) {
        writer.write(bytes: config)
        writer.write(isReadOnly)
        rateLimiter.encode(to: &writer)
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        let config = try reader.readBytes("block config", limit: Block.configLength)
        guard config.count == Block.configLength else {
            throw .invalidValue(field: "block config length", value: UInt64(config.count))
        }
        self.init(config: config, isReadOnly: try reader.readBool("block read-only"),
                  rateLimiter: try RateLimiterState(from: &reader))
    }
}

extension Block: SnapshotableDevice {
    public func saveState() -> BlockState {
        BlockState(config: configBytes, isReadOnly: isReadOnly, rateLimiter: rateLimiter.saveState())
    }

    /// The guest knows the disk by its config: restored onto a disk of another size (or
    /// limits, or read-only setting) it would address sectors that are not there.
    public func validateRestore(_ state: BlockState, context: RestoreContext) throws(SnapshotStateError) {
        guard state.isReadOnly == isReadOnly else {
            throw .mismatch(field: "block read-only", saved: state.isReadOnly ? 1 : 0, device: isReadOnly ? 1 : 0)
        }
        let current = configBytes
        if state.config != current {
            let offset = state.config.indices.first { state.config[$0] != current[$0] } ?? 0
            throw .mismatch(field: "block config byte \(offset)", saved: UInt64(state.config[offset]),
                            device: UInt64(current[offset]))
        }
        try state.rateLimiter.validate(field: "block rate limiter")
    }

    public func applyRestore(_ state: BlockState, context: RestoreContext) {
        rateLimiter.restore(state.rateLimiter)
    }

    /// Async drives: waits for the requests in flight and publishes their answers, so the
    /// snapshot holds none (a restored VMM has neither the ring nor the file they ran on).
    public func completeInFlight(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        try work.withLock { (work: inout BlockWork) throws(QueueError) in
            guard let engine = work.ring else { return }
            engine.waitForInFlight { usleep(50) }
            try publishCompletions(engine, queue: &queue, memory: memory)
        }
    }

    private var configBytes: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.configLength)
        bytes.withUnsafeMutableBytes { readConfig(offset: 0, into: $0) }
        return bytes
    }
}
