import Glibc
import Sandbox

/// The TAP of a run or sandbox (`--net`), recorded as `tap` in its directory right after it is
/// created, so whoever removes the directory deletes the TAP too: the run itself at exit,
/// `kiln rm`, and after a SIGKILL the next `kiln run` or `kiln gc` (Leftovers).
public enum TapRecord {
    static let fileName = "tap"
    /// A releaser renames the record first, so two concurrent `kiln gc` cannot both delete the
    /// name (the second could otherwise hit a TAP a new run has claimed since).
    static let releasingName = "tap.releasing"
    /// How long a release waits for a TAP that is still attached (a VMM killed a moment ago
    /// may not have closed its descriptor yet).
    static let busyWait: Double = 2

    /// Creates the TAP, owned by the jail's user when the VMM is jailed, and records it. On
    /// failure the directory is removed.
    public static func create(in directory: RunDirectory, jail: JailPlan?, addressed: Bool = true) throws(SandboxHostError) -> HostTap {
        let tap: HostTap
        do {
            tap = try HostTap.create(owner: jail.map { (uid: $0.uid, gid: $0.gid) }, addressed: addressed)
        } catch {
            try? directory.remove()
            throw .tap(error)
        }
        if let err = FileText.write(directory.file(fileName), tap.name + "\n") {
            try? tap.delete()
            try? directory.remove()
            throw .system(operation: "record \(tap.name) in", path: directory.file(fileName), errno: err)
        }
        return tap
    }

    /// Deletes the TAP recorded in `directory`, if any. The record is read only when the file
    /// is kiln's own (not a link, owned by kiln's uid), and only a name kiln makes is deleted.
    /// A TAP that stays attached (a VMM still running: never deleted under it) throws, with
    /// the record put back so the directory, and with it the TAP, is left for `kiln gc`.
    static func release(in directory: borrowing OwnedDirectory) throws(SandboxHostError) {
        if let err = directory.rename(fileName, to: releasingName), err != ENOENT {
            throw .system(operation: "rename", path: "\(directory.path)/\(fileName)", errno: err)
        }
        guard let text = directory.readOwnedFile(releasingName, limit: 64),
              let tap = HostTap(name: String(text.split(separator: "\n").first ?? "")) else {
            directory.unlink(releasingName)   // absent, not ours, or not a name kiln makes
            return
        }
        let deadline = monotonicNow() + busyWait
        while true {
            do {
                try tap.delete()
                directory.unlink(releasingName)
                return
            } catch {
                if case .system(_, _, let err) = error, err == EBUSY, monotonicNow() < deadline {
                    usleep(20_000)
                    continue
                }
                _ = directory.rename(releasingName, to: fileName)
                throw .tap(error)
            }
        }
    }
}
