/// The state of one limited bucket, as plain data (the `RateLimiter` keeps it under a lock).
///
/// A "debt" bucket: a request may start while the balance is positive, and its cost is
/// charged afterwards, possibly below zero; the debt is repaid by later refills before the
/// bucket holds tokens again. So a request larger than the bucket still gets through, and
/// the ones after it wait as long as its size requires.
///
/// Refill is exact in integers: `elapsed × size` token-nanoseconds are earned per `period`
/// (the refill time in ns), and what does not make a whole token is carried to the next
/// refill, so frequent refills lose nothing. Every product is taken in 128 bits from
/// operands kept below 2^64, and results are clamped back into 64: no guest-driven or
/// configured value can trap.
struct TokenBucket: Sendable {
    /// Longer gaps than this (292 years) refill as if this long: keeps `elapsed × size`
    /// plus the carry inside 128 bits. The bucket is long full by then anyway.
    static let maxElapsed: UInt64 = 1 << 63

    let size: UInt64
    /// The refill time in nanoseconds: at most (2^64 − 1) × 10^6, below 2^84.
    let period: UInt128
    /// Refilled tokens, 0...size.
    private(set) var tokens: UInt64
    /// What is left of the one-time burst, spent first.
    private(set) var burst: UInt64
    /// Tokens owed: nonzero only when `tokens` and `burst` are zero.
    private(set) var debt: UInt64
    /// Earned token-nanoseconds short of a whole token: always below `period`.
    private var carry: UInt128 = 0
    private var lastRefill: UInt64

    /// A full bucket, or nil for a configuration that limits nothing.
    init?(_ config: TokenBucketConfig, now: UInt64) {
        guard !config.isUnlimited else { return nil }
        size = config.size
        period = UInt128(config.refillTimeMilliseconds) * 1_000_000
        tokens = config.size
        burst = config.oneTimeBurst
        debt = 0
        lastRefill = now
    }

    /// Whether a request may start: a positive balance.
    var hasBudget: Bool { debt == 0 && (tokens > 0 || burst > 0) }

    /// Adds what the time since the last refill earned: first repaying debt, then up to `size`.
    mutating func refill(now: UInt64) {
        // CLOCK_MONOTONIC does not go back; an injected clock that does only restarts the count.
        let elapsed = now >= lastRefill ? min(now - lastRefill, Self.maxElapsed) : 0
        lastRefill = now
        guard elapsed > 0, debt > 0 || tokens < size else { return }
        let earned = UInt128(elapsed) * UInt128(size) + carry  // < 2^127 + 2^84
        carry = earned % period
        credit(UInt64(clamping: earned / period))
    }

    private mutating func credit(_ amount: UInt64) {
        let repaid = min(amount, debt)
        debt -= repaid
        let rest = amount - repaid
        tokens = rest >= size - tokens ? size : tokens + rest
        // A full bucket earns nothing more: no fraction to keep.
        if tokens == size { carry = 0 }
    }

    /// Spends `cost` tokens: the burst first, then refilled tokens, then into debt.
    mutating func charge(_ cost: UInt64) {
        let fromBurst = min(cost, burst)
        burst -= fromBurst
        let fromTokens = min(cost - fromBurst, tokens)
        tokens -= fromTokens
        let owed = cost - fromBurst - fromTokens
        // Saturates: a debt of 2^64 tokens is a wait of centuries either way.
        debt = owed > .max - debt ? .max : debt + owed
    }

    /// Nanoseconds from the last refill until the balance is positive again (one token beyond
    /// the debt), rounded up; `UInt64.max` if that is beyond 64 bits.
    var nanosecondsUntilBudget: UInt64 {
        guard !hasBudget else { return 0 }
        let (needed, overflow) = (UInt128(debt) + 1).multipliedReportingOverflow(by: period)
        guard !overflow else { return .max }
        // needed ≥ period > carry.
        let (quotient, remainder) = (needed - carry).quotientAndRemainder(dividingBy: UInt128(size))
        return UInt64(clamping: quotient + (remainder > 0 ? 1 : 0))
    }
}

extension TokenBucket {
    /// The balance as a snapshot keeps it: the time since the last refill instead of the
    /// refill's timestamp, which means nothing in another process (or after a restore).
    func balance(now: UInt64) -> TokenBucketBalance {
        TokenBucketBalance(tokens: tokens, burst: burst, debt: debt, carry: carry,
                           sinceRefill: now >= lastRefill ? now - lastRefill : 0)
    }

    /// A bucket of `config` holding `balance` (checked by `TokenBucketBalance.validate`), whose
    /// last refill was `balance.sinceRefill` before `now`: the time the snapshot spent on
    /// disk does not count, so a restored guest finds the budget it left.
    init?(_ config: TokenBucketConfig, restoring balance: TokenBucketBalance, now: UInt64) {
        self.init(config, now: now >= balance.sinceRefill ? now - balance.sinceRefill : 0)
        tokens = balance.tokens
        burst = balance.burst
        debt = balance.debt
        carry = balance.carry
    }
}
