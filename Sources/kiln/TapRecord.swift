import Glibc
import Sandbox

/// The TAP of a run or sandbox (`--net`), recorded as `tap` in its directory right after it is
/// created, so whoever removes the directory deletes the TAP too: the run itself at exit,
/// `kiln rm`, and after a SIGKILL the next `kiln run` or `kiln gc` (Leftovers).
enum TapRecord {
    static let fileName = "tap"
    /// A releaser renames the record first, so two concurrent `kiln gc` cannot both delete the
    /// name (the second could otherwise hit a TAP a new run has claimed since).
    static let releasingName = "tap.releasing"

    /// Creates the TAP, owned by the jail's user when the VMM is jailed, and records it; a
    /// one-line error (after removing the directory) when that fails.
    static func create(in directory: RunDirectory, jail: JailPlan?) -> HostTap {
        let tap: HostTap
        do {
            tap = try HostTap.create(owner: jail.map { (uid: $0.uid, gid: $0.gid) })
        } catch {
            directory.remove()
            fail("--net: \(error)")
        }
        if let err = FileText.write(directory.file(fileName), tap.name + "\n") {
            try? tap.delete()
            directory.remove()
            fail("--net: cannot record \(tap.name) in \(directory.path): \(String(cString: strerror(err)))")
        }
        return tap
    }

    /// Deletes the TAP recorded in the directory `path`, if any. False when it could not be
    /// deleted (still attached, e.g. a VMM that is still dying): the record is put back so the
    /// directory, and with it the TAP, is left for a later `kiln gc`.
    @discardableResult
    static func release(in path: String) -> Bool {
        let record = "\(path)/\(fileName)", claimed = "\(path)/\(releasingName)"
        if rename(record, claimed) != 0 && errno != ENOENT { return false }
        guard let text = FileText.read(claimed, limit: 64) else { return true }
        guard let tap = HostTap(name: String(text.split(separator: "\n").first ?? "")) else {
            unlink(claimed)   // not a name kiln makes: nothing of ours to delete
            return true
        }
        // A VMM killed a moment ago may not have closed its descriptor yet.
        let deadline = monotonicNow() + 2
        while true {
            do {
                try tap.delete()
                unlink(claimed)
                return true
            } catch {
                if case .system(_, _, let err) = error, err == EBUSY, monotonicNow() < deadline {
                    usleep(20_000)
                    continue
                }
                printError("kiln: warning: \(error); left for `kiln gc`")
                rename(claimed, record)
                return false
            }
        }
    }
}
