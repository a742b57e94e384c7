/// One limited bucket's balance in a snapshot (see `TokenBucket`).
public struct TokenBucketBalance: Equatable, Sendable {
    public var tokens: UInt64
    public var burst: UInt64
    public var debt: UInt64
    /// Token-nanoseconds short of a whole token.
    public var carry: UInt128
    /// Nanoseconds from the last refill to the save.
    public var sinceRefill: UInt64

    public init(tokens: UInt64, burst: UInt64, debt: UInt64, carry: UInt128, sinceRefill: UInt64) {
        self.tokens = tokens
        self.burst = burst
        self.debt = debt
        self.carry = carry
        self.sinceRefill = sinceRefill
    }

    /// The bucket's invariants: at most `size` tokens and the configured burst, a carry short
    /// of one token's period, debt only when nothing is left.
    func validate(_ config: TokenBucketConfig, field: String) throws(SnapshotStateError) {
        guard tokens <= config.size else { throw .invalidValue(field: "\(field) tokens", value: tokens) }
        guard burst <= config.oneTimeBurst else { throw .invalidValue(field: "\(field) burst", value: burst) }
        guard carry < UInt128(config.refillTimeMilliseconds) * 1_000_000 else {
            throw .invalidValue(field: "\(field) carry", value: UInt64(clamping: carry))
        }
        guard debt == 0 || (tokens == 0 && burst == 0) else {
            throw .inconsistent("\(field) owes \(debt) tokens while it holds some")
        }
    }
}

/// A `RateLimiter` in a snapshot: its configuration and, per limited bucket, its balance.
/// Throttle counters are metrics of the process, not state of the device, and start again.
public struct RateLimiterState: Equatable, Sendable {
    public var config: RateLimiterConfig
    /// Present exactly for the buckets that limit something.
    public var bandwidth: TokenBucketBalance?
    public var ops: TokenBucketBalance?

    public init(config: RateLimiterConfig, bandwidth: TokenBucketBalance? = nil, ops: TokenBucketBalance? = nil) {
        self.config = config
        self.bandwidth = bandwidth
        self.ops = ops
    }

    public static let unlimited = RateLimiterState(config: .unlimited)

    /// A balance for exactly each limited bucket, and each balance within its bucket.
    func validate(field: String) throws(SnapshotStateError) {
        try Self.validate(config.bandwidth, bandwidth, field: "\(field) bandwidth")
        try Self.validate(config.ops, ops, field: "\(field) ops")
    }

    private static func validate(_ config: TokenBucketConfig?, _ balance: TokenBucketBalance?,
                                 field: String) throws(SnapshotStateError) {
        switch (config.map { !$0.isUnlimited } ?? false, balance) {
        case (false, nil): return
        case (false, .some): throw .inconsistent("\(field) has a balance but no limit")
        case (true, nil): throw .inconsistent("\(field) is limited but has no balance")
        case (true, .some(let balance)): try balance.validate(config!, field: field)
        }
    }
}

extension RateLimiterState: StateCodable {
    public func encode(to writer: inout StateWriter) {
        config.encode(to: &writer)
        for balance in [bandwidth, ops] {
            writer.writeOptional(balance) { writer, balance in
                writer.write(balance.tokens)
                writer.write(balance.burst)
                writer.write(balance.debt)
                writer.write(UInt64(truncatingIfNeeded: balance.carry))
                writer.write(UInt64(truncatingIfNeeded: balance.carry >> 64))
                writer.write(balance.sinceRefill)
            }
        }
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        func balance(_ reader: inout StateReader) throws(SnapshotStateError) -> TokenBucketBalance {
            let tokens = try reader.read(UInt64.self, "bucket tokens")
            let burst = try reader.read(UInt64.self, "bucket burst")
            let debt = try reader.read(UInt64.self, "bucket debt")
            let low = try reader.read(UInt64.self, "bucket carry")
            let high = try reader.read(UInt64.self, "bucket carry")
            return TokenBucketBalance(tokens: tokens, burst: burst, debt: debt,
                                      carry: UInt128(high) << 64 | UInt128(low),
                                      sinceRefill: try reader.read(UInt64.self, "bucket since refill"))
        }
        let config = try RateLimiterConfig(from: &reader)
        self.init(config: config, bandwidth: try reader.readOptional("bandwidth balance", balance),
                  ops: try reader.readOptional("ops balance", balance))
        try validate(field: "rate limiter")
    }
}

/// A rate limiter's configuration alone (its buckets, no balances): part of every limiter's
/// saved state, and of a snapshot's machine configuration.
extension RateLimiterConfig {
    public func encode(to writer: inout StateWriter) {
        for bucket in [bandwidth, ops] {
            writer.writeOptional(bucket) { writer, bucket in
                writer.write(bucket.size)
                writer.write(bucket.oneTimeBurst)
                writer.write(bucket.refillTimeMilliseconds)
            }
        }
    }

    public init(from reader: inout StateReader) throws(SnapshotStateError) {
        func bucket(_ reader: inout StateReader) throws(SnapshotStateError) -> TokenBucketConfig {
            TokenBucketConfig(size: try reader.read(UInt64.self, "bucket size"),
                              oneTimeBurst: try reader.read(UInt64.self, "bucket one-time burst"),
                              refillTimeMilliseconds: try reader.read(UInt64.self, "bucket refill time"))
        }
        self.init(bandwidth: try reader.readOptional("bandwidth bucket", bucket),
                  ops: try reader.readOptional("ops bucket", bucket))
    }
}
