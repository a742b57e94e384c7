import CHost
import Glibc

/// What records a child process before the child may exec (the spawn gate in CHost.h): the
/// parent runs it between fork and the go-ahead, so a parent killed at any moment leaves no
/// running child that no record names (the child of a dead parent exits at the gate).
public final class SpawnRecord {
    public let body: (pid_t) -> Int32

    /// `body` gets the child's pid and returns 0, or an errno that refuses the child.
    public init(_ body: @escaping (pid_t) -> Int32) { self.body = body }

    /// Writes the child's identity (`PID STARTTIME`, ProcessIdentity.text) to `path` atomically:
    /// its start time is known from fork and stays through exec.
    public static func identity(at path: String) -> SpawnRecord {
        SpawnRecord { pid in
            guard let identity = ProcessIdentity.of(pid) else { return ESRCH }
            return FileText.write(path, identity.text) ?? 0
        }
    }

    /// Calls `spawn` with the C recorder and its context (both nil without a record).
    public static func with<T>(_ record: SpawnRecord?,
                               _ spawn: (kiln_spawn_recorder?, UnsafeMutableRawPointer?) -> T) -> T {
        guard let record else { return spawn(nil, nil) }
        return withExtendedLifetime(record) {
            spawn({ pid, context in
                guard let context else { return EINVAL }
                return Unmanaged<SpawnRecord>.fromOpaque(context).takeUnretainedValue().body(pid)
            }, Unmanaged.passUnretained(record).toOpaque())
        }
    }
}
