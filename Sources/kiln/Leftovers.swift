import Glibc

/// What killed runs and sandboxes leave behind: `kiln run` directories (/tmp/kiln-run.<pid>.*)
/// whose kiln is gone, and sandbox state directories whose VMM is gone, each with the TAP it
/// records (`--net`). A `kiln run` killed with SIGKILL takes its VMM with it (PR_SET_PDEATHSIG)
/// but cannot remove its directory or TAP; `kiln run` cleans these at start and `kiln gc` on
/// demand.
enum Leftovers {
    /// Run directories whose kiln process no longer exists.
    static func staleRuns(parent: String = RunDirectory.parent) -> [String] {
        FileText.entries(parent).filter { name in
            guard name.hasPrefix(RunDirectory.prefix) else { return false }
            let fields = name.dropFirst(RunDirectory.prefix.count).split(separator: ".")
            guard fields.count == 2, let pid = Int32(fields[0]), pid > 0 else { return false }
            return kill(pid, 0) != 0 && errno == ESRCH
        }.map { "\(parent)/\($0)" }
    }

    static func removeStaleRuns() { staleRuns().forEach { RunDirectory(path: $0).remove() } }

    /// State directories of sandboxes whose VMM is gone.
    static func deadSandboxes(in store: SandboxStore) -> [String] {
        store.all().filter { $0.state == .dead }.map(\.path)
    }

    /// Removes every leftover (with the TAP it records) and returns the paths removed.
    static func collect(store: SandboxStore) -> [String] {
        (staleRuns() + deadSandboxes(in: store)).filter { RunDirectory(path: $0).remove() }
    }
}
