import CKiln
import Synchronization

/// Firecracker's I/O rate limiter for one device queue: a bandwidth bucket and an ops bucket
/// (`RateLimiterConfig`), and a timerfd that says when a blocked queue may go on.
///
/// A device asks `admit()` before each request or frame and, if allowed, `charge(bytes:)`s it
/// after (one op and its data bytes): the "debt" model of `TokenBucket`. When `admit()` says
/// no, it has armed the timer for the moment the balance turns positive; the device leaves
/// the request in its ring and, when the timer fires, calls `acknowledgeTimer()` and services
/// the queue again. So at most one request per queue runs beyond the budget, and a blocked
/// queue costs nothing until the timer fires.
///
/// Threads: `admit`, `charge` and `acknowledgeTimer` run on the device thread; `update` on the
/// VMM thread. One lock guards the buckets; an unlimited limiter answers from one relaxed
/// atomic, without the lock or the clock.
public final class RateLimiter: Sendable {
    private struct State: Sendable {
        var config: RateLimiterConfig
        var bandwidth: TokenBucket?
        var ops: TokenBucket?
        /// The timer is armed and has not been acknowledged: no need to arm it again.
        var timerArmed = false

        init(_ config: RateLimiterConfig, now: UInt64) {
            self.config = config
            bandwidth = config.bandwidth.flatMap { TokenBucket($0, now: now) }
            ops = config.ops.flatMap { TokenBucket($0, now: now) }
        }
    }

    private let state: Mutex<State>
    private let unlimited: Atomic<Bool>
    private let timer: RateLimitTimer
    private let clock: @Sendable () -> UInt64
    private let throttledCount = Atomic<UInt64>(0)

    /// `clock` returns monotonic nanoseconds (default: CLOCK_MONOTONIC); tests inject one.
    /// Creates the timerfd (so it must run before the VMM's seccomp filters are installed).
    public convenience init(_ config: RateLimiterConfig,
                            clock: @escaping @Sendable () -> UInt64 = { kiln_monotonic_ns() })
        throws(DeviceEventsError) {
        self.init(config, clock: clock, timer: RateLimitTimer())
        if let failure = timer.failure { throw failure }
    }

    /// The unlimited limiter a device makes for itself when given none. Its init cannot throw,
    /// so a failed timerfd_create is kept in `timerFailure` and the device's `connect`
    /// reports it; until then the limiter limits nothing (an update cannot arm a timer).
    static func deviceDefault() -> RateLimiter {
        RateLimiter(.unlimited, clock: { kiln_monotonic_ns() }, timer: RateLimitTimer())
    }

    private init(_ config: RateLimiterConfig, clock: @escaping @Sendable () -> UInt64,
                 timer: consuming RateLimitTimer) {
        self.clock = clock
        self.timer = timer
        state = Mutex(State(config, now: clock()))
        unlimited = Atomic(config.isUnlimited)
    }

    /// Watched (readable) by the device loop; readable once the timer has expired.
    public var timerFD: Int32 { timer.fd }

    /// For `connect`: the timerfd this limiter could not create, if any.
    var timerFailure: DeviceEventsError? { timer.failure }

    public var config: RateLimiterConfig { state.withLock { $0.config } }

    /// Times `admit()` refused a request (Firecracker's `rate_limiter_throttled_events`).
    public var throttledEvents: UInt64 { throttledCount.load(ordering: .relaxed) }

    /// Replaces the buckets (full, as a new Firecracker limiter is) from any thread (the VMM
    /// thread calls it for PATCH), and arms the timer to fire at once so the device thread
    /// re-checks a queue that was blocked.
    public func update(_ config: RateLimiterConfig) {
        state.withLock { state in
            state = State(config, now: clock())
            state.timerArmed = timer.arm(after: 1)
            unlimited.store(config.isUnlimited, ordering: .relaxed)
        }
    }

    /// For a snapshot: the configuration and the buckets' balances now.
    public func saveState() -> RateLimiterState {
        state.withLock { state in
            let now = clock()
            return RateLimiterState(config: state.config, bandwidth: state.bandwidth?.balance(now: now),
                                    ops: state.ops?.balance(now: now))
        }
    }

    /// Takes the configuration and balances of a restored snapshot (`saved` was validated),
    /// and arms the timer to fire at once, as `update` does: a queue that was blocked when the
    /// snapshot was taken is looked at again and finds its budget.
    func restore(_ saved: RateLimiterState) {
        state.withLock { state in
            let now = clock()
            state = State(saved.config, now: now)
            if let balance = saved.bandwidth, let config = saved.config.bandwidth {
                state.bandwidth = TokenBucket(config, restoring: balance, now: now)
            }
            if let balance = saved.ops, let config = saved.config.ops {
                state.ops = TokenBucket(config, restoring: balance, now: now)
            }
            state.timerArmed = timer.arm(after: 1)
            unlimited.store(saved.config.isUnlimited, ordering: .relaxed)
        }
    }

    /// Device thread, before a request: true if it may run now. If not, the timer is armed
    /// for when it may (once: later refusals find it armed), and the caller must leave the
    /// request where it is until the timer fires.
    public func admit() -> Bool {
        if unlimited.load(ordering: .relaxed) { return true }
        let admitted = state.withLock { state in
            let now = clock()
            state.bandwidth?.refill(now: now)
            state.ops?.refill(now: now)
            if state.bandwidth?.hasBudget ?? true, state.ops?.hasBudget ?? true { return true }
            guard !state.timerArmed else { return false }
            let wait = max(state.bandwidth?.nanosecondsUntilBudget ?? 0, state.ops?.nanosecondsUntilBudget ?? 0)
            // A timer that cannot be armed (it always can) must not stall the queue for good:
            // then the limiter lets the request through.
            state.timerArmed = timer.arm(after: wait)
            return !state.timerArmed
        }
        if !admitted { throttledCount.wrappingAdd(1, ordering: .relaxed) }
        return admitted
    }

    /// Device thread, after an admitted request: charges one op and `bytes` of data.
    public func charge(bytes: UInt64) {
        if unlimited.load(ordering: .relaxed) { return }
        state.withLock { state in
            state.bandwidth?.charge(bytes)
            state.ops?.charge(1)
        }
    }

    /// Device thread, when the timer fired: consumes the expiry so the descriptor is quiet
    /// again. The caller then services its queue (which calls `admit()` again).
    public func acknowledgeTimer() {
        state.withLock { state in
            timer.consume()
            state.timerArmed = false
        }
    }
}
