import Glibc

/// A process named by pid and start time (/proc/PID/stat field 22), so a pid the kernel has
/// since given to another process is not mistaken for a sandbox's VMM.
public struct ProcessIdentity: Equatable, Sendable {
    public let pid: pid_t
    public let startTime: UInt64

    /// The identity of a running process now, or nil when there is none (or only a zombie).
    public static func of(_ pid: pid_t) -> ProcessIdentity? {
        guard pid > 0, let stat = FileText.read("/proc/\(pid)/stat", limit: 4096),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces): state is field 3, start time 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X", let start = UInt64(fields[19]) else { return nil }
        return ProcessIdentity(pid: pid, startTime: start)
    }

    public var isAlive: Bool { Self.of(pid) == self }

    /// "PID STARTTIME", as stored in a sandbox's state directory.
    public var text: String { "\(pid) \(startTime)\n" }

    public init(pid: pid_t, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    public init?(text: String) {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 2, let pid = pid_t(fields[0]), pid > 0, let start = UInt64(fields[1]) else { return nil }
        self.init(pid: pid, startTime: start)
    }
}
