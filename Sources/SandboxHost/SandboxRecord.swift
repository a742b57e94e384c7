import Glibc
import Sandbox

/// One sandbox as its state directory records it.
public struct SandboxRecord: Sendable {
    public enum State: Equatable, Sendable, CustomStringConvertible {
        case alive, starting, dead
        public var description: String {
            switch self {
            case .alive: "alive"
            case .starting: "starting"
            case .dead: "dead"
            }
        }
    }

    public let name: String
    public let directory: RunDirectory
    public let vmm: ProcessIdentity?
    public let creator: pid_t?
    public let created: Int

    public var path: String { directory.path }
    public var endpoint: AgentEndpoint { .hybridVsock(udsPath: directory.file(RunDirectory.socketName)) }

    /// Alive while its VMM runs; starting while `kiln create` has not recorded the VMM yet;
    /// dead otherwise (the VMM ended or was killed, or its creator died before recording it).
    public var state: State {
        if let vmm { return vmm.isAlive ? .alive : .dead }
        if let creator, creator > 0, kill(creator, 0) == 0 || errno == EPERM { return .starting }
        // Just made, creator file not written yet.
        if creator == nil && time(nil) - created < 10 { return .starting }
        return .dead
    }
}
