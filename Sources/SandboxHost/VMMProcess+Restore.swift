import Glibc

extension VMMProcess {
    /// Starts a VMM that restores `snapshot` (in directory `from`) and resumes it at once:
    /// `kiln --restore` with an API socket (so the sandbox can be snapshotted again). Jailed,
    /// the jailer copies in the state file (and the scratch disk: each clone writes its own)
    /// and bind-mounts the root disk and the memory file read-only, so every clone maps the
    /// same memory file copy-on-write and shares the pages it has not written. The disks'
    /// paths in the state file are the jail's (`/<file name>`), the same in every jail.
    /// On failure the directory is removed.
    public static func restore(_ snapshot: SandboxSnapshot, from: String, seccomp: Bool, directory: RunDirectory,
                               detached: Bool = false, jail: JailPlan?) throws(SandboxHostError) -> VMMProcess {
        do {
            return try spawnRestore(snapshot, from: from, seccomp: seccomp, directory: directory, detached: detached, jail: jail)
        } catch {
            try? directory.remove()
            throw error
        }
    }

    private static func spawnRestore(_ snapshot: SandboxSnapshot, from: String, seccomp: Bool, directory: RunDirectory,
                                     detached: Bool, jail: JailPlan?) throws(SandboxHostError) -> VMMProcess {
        let state = "\(from)/\(SandboxSnapshot.stateName)", memory = "\(from)/\(SandboxSnapshot.memoryName)"
        let options = ["--resume", "--id", "sandbox"] + (seccomp ? [] : ["--no-seccomp"])
        let argv: [String]
        if snapshot.jailed {
            guard let jail else {
                throw .snapshot("--from \(from): the snapshot is of a jailed sandbox; restore it jailed (as root, kiln-jailer beside kiln, no --no-jail)")
            }
            let copied = [state] + (snapshot.scratchDisk ? ["\(from)/\(ScratchDisk.fileName)"] : [])
            let bound = [snapshot.rootfs, memory]
            var names: Set<String> = []
            for name in (copied + bound).map(HostExecutable.baseName) where !names.insert(name).inserted { throw .sameFileName(name) }
            try linkJailFiles(jail, directory: directory, names: [RunDirectory.socketName, RunDirectory.apiSocketName])
            argv = jail.argv(copyIn: copied, bindIn: bound,
                             kilnArguments: ["--restore", "/" + SandboxSnapshot.stateName,
                                             "--restore-memory", "/" + SandboxSnapshot.memoryName,
                                             "--api-sock", "/" + RunDirectory.apiSocketName] + options
                                 + (detached ? [] : ["--exit-with-parent", "\(getpid())"]))
        } else {
            guard jail == nil else {
                throw .snapshot("--from \(from): the snapshot is of a sandbox without a jail; restore it with --no-jail")
            }
            argv = [try HostExecutable.kiln(), "--restore", state, "--restore-memory", memory,
                    "--restore-vsock", directory.file(RunDirectory.socketName),
                    "--api-sock", directory.file(RunDirectory.apiSocketName)] + options
        }
        return try launch(argv, directory: directory, detached: detached)
    }
}
