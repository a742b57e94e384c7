import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// A one-shot CLOCK_MONOTONIC timerfd (non-blocking, close-on-exec), owned: closed on deinit.
/// Readable from expiry until `consume`; the device loop watches it. Also the vsock
/// listener's accept retry.
struct RateLimitTimer: ~Copyable, Sendable {
    /// -1 when creation failed (see `failure`).
    let fd: Int32
    /// Why there is no timer, for a limiter a device made itself and could not throw from.
    let failure: DeviceEventsError?

    init() {
        fd = kiln_timerfd_create()
        failure = fd < 0 ? DeviceEventsError(operation: "timerfd_create", errno: errno) : nil
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Expires once, `nanoseconds` from now (at least 1 ns), replacing any earlier arming.
    /// False if the timer could not be armed.
    func arm(after nanoseconds: UInt64) -> Bool {
        fd >= 0 && kiln_timerfd_arm(fd, nanoseconds) == 0
    }

    /// Reads the expiry count so the descriptor is no longer readable; nothing if not expired.
    func consume() {
        var expirations: UInt64 = 0
        _ = kiln_timerfd_consume(fd, &expirations)
    }
}
