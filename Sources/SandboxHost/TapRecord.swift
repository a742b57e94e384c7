import Glibc
import Sandbox

/// The TAP of a run or sandbox (`--net`), recorded as `tap` in its directory, so whoever
/// removes the directory deletes the TAP too: the run itself at exit, `kiln rm`, kiln-oci's
/// `delete`, and after a SIGKILL the next `kiln run` or `kiln gc` (Leftovers). The record is
/// written while the new TAP is still held only by kiln's descriptor (HostTap.create), before
/// it is made persistent: a kiln killed before the record exists takes the TAP with it. It
/// holds the name and the interface index (`kilntap0 17`): a release deletes the name only
/// while it still has that index (indexes are not reused while the namespace lives), so a
/// record whose TAP vanished never deletes another interface that took the name since.
public enum TapRecord {
    static let fileName = "tap"
    /// A releaser renames the record first, so two concurrent `kiln gc` cannot both delete the
    /// name (the second could otherwise hit a TAP a new run has claimed since).
    static let releasingName = "tap.releasing"
    /// How long a release waits for a TAP that is still attached (a VMM killed a moment ago
    /// may not have closed its descriptor yet).
    static let busyWait: Double = 2

    /// Creates the TAP, owned by the jail's user when the VMM is jailed, and records it.
    /// `recorded` runs right after the record is written, before the TAP is persistent (a
    /// test's stop point). On failure the directory is removed.
    public static func create(in directory: RunDirectory, jail: JailPlan?, addressed: Bool = true,
                              recorded: () -> Void = {}) throws(SandboxHostError) -> HostTap {
        let tap: HostTap
        do {
            tap = try HostTap.create(owner: jail.map { (uid: $0.uid, gid: $0.gid) }, addressed: addressed) { tap, index in
                if let err = FileText.write(directory.file(fileName), text(tap, index: index)) { return err }
                recorded()
                return nil
            }
        } catch {
            try? directory.remove()
            throw .tap(error)
        }
        return tap
    }

    /// The record's text: `NAME INDEX`.
    static func text(_ tap: HostTap, index: UInt32) -> String { "\(tap.name) \(index)\n" }

    /// The TAP a record names and the interface index it had (nil in a record of an older
    /// kiln, which held the name alone); nil for anything kiln does not write.
    static func parse(_ text: String) -> (tap: HostTap, index: UInt32?)? {
        guard let line = text.split(separator: "\n", omittingEmptySubsequences: false).first else { return nil }
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard (1...2).contains(fields.count), let tap = HostTap(name: String(fields[0])) else { return nil }
        guard fields.count == 2 else { return (tap, nil) }
        guard let index = UInt32(fields[1]), index > 0, fields[1].utf8.first != UInt8(ascii: "+") else { return nil }
        return (tap, index)
    }

    /// Whether a recorded TAP is still the one the record names: the name has the recorded
    /// index now (`current`: nil when no interface has the name). A record without an index
    /// trusts the name.
    static func stillRecorded(index recorded: UInt32?, current: UInt32?) -> Bool {
        guard let current else { return false }
        return recorded.map { $0 == current } ?? true
    }

    /// Deletes the TAP recorded in `directory`, if any. The record is read only when the file
    /// is kiln's own (not a link, owned by kiln's uid), and only a name kiln makes is deleted.
    /// A TAP that stays attached (a VMM still running: never deleted under it) throws, with
    /// the record put back so the directory, and with it the TAP, is left for `kiln gc`.
    static func release(in directory: borrowing OwnedDirectory) throws(SandboxHostError) {
        if let err = directory.rename(fileName, to: releasingName), err != ENOENT {
            throw .system(operation: "rename", path: "\(directory.path)/\(fileName)", errno: err)
        }
        guard let text = directory.readOwnedFile(releasingName, limit: 64), let (tap, index) = parse(text) else {
            directory.unlink(releasingName)   // absent, not ours, or not a name kiln makes
            return
        }
        guard stillRecorded(index: index, current: tap.interfaceIndex) else {
            // Gone already (the creator died holding it), or the name now belongs to another.
            directory.unlink(releasingName)
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
