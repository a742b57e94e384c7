import Glibc

/// What killed runs and sandboxes leave behind: `kiln run` directories
/// (`$TMPDIR/kiln-run.<pid>.*`) whose kiln is gone, and sandbox state directories whose VMM is
/// gone, each with the TAP it records (`--net`). A `kiln run` killed with SIGKILL takes its VMM
/// with it (PR_SET_PDEATHSIG) but cannot remove its directory or TAP; `kiln run` cleans these
/// at start and `kiln gc` on demand. Kiln often runs as root in a directory every user can
/// write to, so only directories kiln's own uid made count: anyone can create a
/// `kiln-run.<dead pid>.x`.
public enum Leftovers {
    /// Run directories in `parent` whose kiln process no longer exists: directories (not
    /// links) owned by kiln's effective uid with mode 0700. Removal checks again through a
    /// descriptor; this is the first sieve.
    public static func staleRuns(in parent: String = RunDirectory.parent()) -> [RunDirectory] {
        let parentFD = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parentFD >= 0 else { return [] }
        defer { close(parentFD) }
        return DirectoryTree.entries(of: parentFD).sorted().filter { name in
            guard let pid = runnerPid(name) else { return false }
            guard kill(pid, 0) != 0 && errno == ESRCH else { return false }
            var info = stat()
            return fstatat(parentFD, name, &info, AT_SYMLINK_NOFOLLOW) == 0
                && OwnedDirectory.ownershipProblem(info, private: true) == nil
        }.map { RunDirectory(parent: parent, name: $0, private: true) }
    }

    /// The pid in a run directory's name `kiln-run.<pid>.<random>`, or nil for other names.
    static func runnerPid(_ name: String) -> pid_t? {
        guard name.hasPrefix(RunDirectory.prefix) else { return nil }
        let fields = name.dropFirst(RunDirectory.prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard fields.count == 2, !fields[1].isEmpty, let pid = pid_t(fields[0]), pid > 0 else { return nil }
        return pid
    }

    /// Removes the stale run directories; returns why any could not go (a TAP still attached).
    @discardableResult
    public static func removeStaleRuns(in parent: String = RunDirectory.parent()) -> [SandboxHostError] {
        collect(staleRuns(in: parent)).failures
    }

    /// Removes every leftover (with the TAP it records): stale runs in `runParent`, dead
    /// sandboxes in `store`. Returns the paths removed and why others could not be.
    public static func collect(store: SandboxStore, runParent: String = RunDirectory.parent())
        -> (removed: [String], failures: [SandboxHostError]) {
        collect(staleRuns(in: runParent) + store.deadSandboxes())
    }

    private static func collect(_ directories: [RunDirectory]) -> (removed: [String], failures: [SandboxHostError]) {
        var removed: [String] = [], failures: [SandboxHostError] = []
        for directory in directories {
            do {
                try directory.remove()
                removed.append(directory.path)
            } catch {
                failures.append(error)
            }
        }
        return (removed, failures)
    }
}
