import CJailer
#if canImport(Glibc)
import Glibc
#endif

/// Builds the jail and execs the VMM inside it, in the order the steps depend on each other:
/// jail directory, executable, device nodes, cgroups (host side, root's), then mount namespace
/// and pivot_root, network namespace, daemonizing, PID namespace, resource limits, descriptors,
/// uid/gid, capabilities, no_new_privs, exec. Any failure undoes what was built.
public enum Jail {
    /// The Swift runtime finds its backtracer through /proc/self/exe, which a jail does not
    /// have (and seccomp would forbid running it): tell it where not to look. Nothing else of
    /// the jailer's environment reaches the VMM.
    public static let environment = ["SWIFT_BACKTRACE=enable=no,swift-backtrace=/no-backtracer"]

    /// Returns only by throwing; on success the process is the VMM (or, with a new PID
    /// namespace, the parent exits 0 once the VMM has started).
    public static func run(_ config: JailConfig) throws(JailerError) -> Never {
        let layout = JailLayout(config)
        let rollback = Rollback()
        // Host paths are opened before pivot_root hides them.
        let netns = try config.netns.map { path throws(JailerError) in
            try check("netns", "open \(path)") { open(path, O_RDONLY | O_CLOEXEC) }
        }
        let devNull = config.daemonize ? try check("daemonize", "open /dev/null") { open("/dev/null", O_RDWR | O_CLOEXEC) } : nil
        do {
            let placement = try JailDirectory.create(layout, config, rollback: rollback)
            let mounts = try Cgroups.read("/proc/mounts")
            try Cgroups.join(config, mounts: CgroupMount.parse(mounts: mounts), rollback: rollback)
            try MountNamespace.enter(root: layout.root, bindIn: config.bindIn, bindInDirectories: config.bindInDirectories,
                                     executable: placement == .bindMount ? (config.execFile, layout.execPathInJail) : nil)
            if let netns, let path = config.netns {
                try check("netns", "setns(\(path))") { jailer_setns(netns, JAILER_CLONE_NEWNET) }
                close(netns)
            }
            if let devNull {
                // In a new PID namespace the child starts the session: a process group leader
                // (as the jailer may be) cannot call setsid.
                if !config.newPidNamespace { try check("daemonize", "setsid (the jailer must not lead a process group)") { setsid() } }
                for fd in Int32(0)...2 { try check("daemonize", "redirect \(fd) to /dev/null") { dup2(devNull, fd) } }
                close(devNull)
            }
            if config.newPidNamespace {
                try startInNewPidNamespace(config, layout, rollback)
            }
            try becomeVMM(config, layout, keeping: rollback.ownDescriptors)
        } catch {
            rollback.undo()
            throw error
        }
    }

    /// The rest of the steps, ending in exec.
    static func becomeVMM(_ config: JailConfig, _ layout: JailLayout, keeping: [Int32]) throws(JailerError) -> Never {
        try Privileges.setResourceLimits(config.resourceLimits)
        try Privileges.closeInheritedDescriptors(keeping: keeping)
        try Privileges.drop(uid: config.uid, gid: config.gid, keepDacReadSearch: config.keepDacReadSearch)
        let arguments = [layout.execName] + config.execArguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        execve(layout.execPathInJail, &argv, &envp)
        throw .system("exec", layout.execPathInJail)
    }

    /// unshare(CLONE_NEWPID) and fork: the child becomes the namespace's PID 1 and goes on to
    /// exec the VMM. The parent waits until the exec happened (a close-on-exec pipe closes),
    /// writes the VMM's host pid to `/<exec name>.pid` in the jail and exits 0; if the child
    /// failed, the parent waits for it, undoes the jail and reports the failure.
    static func startInNewPidNamespace(_ config: JailConfig, _ layout: JailLayout, _ rollback: Rollback) throws(JailerError) -> Never {
        let step = "new pid namespace"
        try check(step, "unshare(CLONE_NEWPID)") { jailer_unshare(JAILER_CLONE_NEWPID) }
        var pipeFDs: [Int32] = [0, 0]
        try check(step, "pipe") { jailer_pipe_cloexec(&pipeFDs) }
        let child = jailer_fork()
        guard child >= 0 else { throw .system(step, "fork") }
        if child == 0 {
            close(pipeFDs[0])
            do {
                if config.daemonize { try check("daemonize", "setsid") { setsid() } }
                try becomeVMM(config, layout, keeping: rollback.ownDescriptors + [pipeFDs[1]])
            } catch {
                // The parent reports it and undoes the jail once this process is gone.
                var message = "\(error)"
                message.withUTF8 { _ = write(pipeFDs[1], $0.baseAddress, $0.count) }
                _exit(1)
            }
        }
        close(pipeFDs[1])
        // Only the VMM stays in the VM's cgroups.
        rollback.leaveCgroups()
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        if !bytes.isEmpty {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            let text = String(decoding: bytes, as: UTF8.self)
            throw JailerError(step: "\(step) (child)", text)
        }
        // Written as root in the jail's root: the VMM can read it but not change it.
        let pidFile = "/" + layout.pidFileName
        let fd = try check(step, "create \(pidFile)") { open(pidFile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        defer { close(fd) }
        guard writeAll(fd, "\(child)\n") else { throw .system(step, "write \(pidFile)") }
        exit(0)
    }
}
