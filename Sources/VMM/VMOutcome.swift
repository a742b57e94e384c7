/// How a VM ended. `exitCode` is what `kiln` exits with.
public enum VMOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The guest reset the machine (i8042 reset pulse, triple fault, or a reset system event).
    case reset(reason: String)
    /// The guest powered off (or halted with nothing left to wake it).
    case poweredOff(reason: String)
    /// The guest kernel reported a crash.
    case guestCrashed(reason: String)
    /// KVM or the VMM failed; the message names the exit reason and vCPU.
    case failed(String)
    /// Stopped from outside (signal, API).
    case stopped

    public var exitCode: Int32 {
        switch self {
        case .reset, .poweredOff, .stopped: 0
        case .guestCrashed: 2
        case .failed: 1
        }
    }

    public var description: String {
        switch self {
        case let .reset(reason): "guest reset (\(reason))"
        case let .poweredOff(reason): "guest powered off (\(reason))"
        case let .guestCrashed(reason): "guest crashed (\(reason))"
        case let .failed(message): message
        case .stopped: "stopped"
        }
    }
}
