import Glibc
import Synchronization

/// What the agent does when the host says the VM was restored from a snapshot: the guest's
/// wall clock stood still from the snapshot until now (kvmclock is told the VM was stopped, not
/// for how long), so it is set from the host's; and the agent counts a new generation, so its
/// log tells which clone-life a line belongs to. The kernel reseeds its own RNG from the VM
/// generation ID (vmgenid); nothing of the agent's is random or unique beyond that.
public final class RestoreNotice: Sendable {
    /// Sets CLOCK_REALTIME; returns 0 or an errno. A recorder in tests.
    public typealias ClockSetter = @Sendable (timespec) -> Int32

    private let setClock: ClockSetter
    private let count = Atomic<UInt64>(0)
    private let onRestore: @Sendable (UInt64, timespec) -> Void

    public init(setClock: @escaping ClockSetter = RestoreNotice.setRealtime,
                onRestore: @escaping @Sendable (UInt64, timespec) -> Void = { _, _ in }) {
        self.setClock = setClock
        self.onRestore = onRestore
    }

    /// How many restores this agent has seen.
    public var generation: UInt64 { count.load(ordering: .acquiring) }

    /// Sets the clock to the host's time and counts the generation; the codec has checked the
    /// values (seconds fit a time_t, nanoseconds below one second).
    func apply(seconds: UInt64, nanoseconds: UInt32) throws(AgentError) {
        guard let whole = Int(exactly: seconds) else { throw .system(operation: "clock_settime", errno: EINVAL) }
        let time = timespec(tv_sec: whole, tv_nsec: Int(nanoseconds))
        let err = setClock(time)
        guard err == 0 else { throw .system(operation: "clock_settime", errno: err) }
        let generation = count.add(1, ordering: .acquiringAndReleasing).newValue
        onRestore(generation, time)
    }

    public static let setRealtime: ClockSetter = { time in
        var time = time
        return clock_settime(CLOCK_REALTIME, &time) == 0 ? 0 : errno
    }
}
