/// The OCI lifecycle states as `state` reports them, derived from what is alive.
public enum ContainerStatus: String, Sendable {
    case creating, created, running, paused, stopped

    /// `relayAlive`/`vmmAlive`: the recorded processes still run (same pid and start time);
    /// `started`: `start` has taken the exec FIFO; `paused`: `pause` left its marker.
    public static func derive(recorded: Bool, relayAlive: Bool, vmmAlive: Bool, started: Bool, paused: Bool) -> ContainerStatus {
        guard recorded else { return .creating }
        // The workload lives in the VM: without the VMM nothing runs, whatever the relay does.
        guard relayAlive, vmmAlive else { return .stopped }
        if paused { return .paused }
        return started ? .running : .created
    }
}
