import AgentProtocol
import CHost
import Glibc
import Sandbox

/// The VM of one `kiln run`: a child `kiln boot` process (its own process group, killed when
/// `kiln run` dies), its console and log in the run directory. For `kiln create` it is detached
/// (its own session, outliving kiln) and the directory is the sandbox's state directory.
public final class VMMProcess {
    public let pid: pid_t
    public let endpoint: AgentEndpoint
    public let directory: RunDirectory
    private var exited = false
    /// How the VMM ended, once it has ("exit 1", "killed by signal 31").
    public private(set) var ending: String?

    /// The guest command line: read-only root on the shared image, tmpfs overlay for writes
    /// (kiln-agent sets it up), quiet console; with --net, eth0's addresses for the agent.
    public static func commandLine(network: GuestNetwork? = nil) -> String {
        "console=ttyS0 reboot=k panic=1 pci=off nomodules quiet i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
            + "root=/dev/vda ro rootfstype=ext4 kiln.overlay=tmpfs" + (network.map { " " + $0.commandLineWord } ?? "")
    }

    private init(pid: pid_t, endpoint: AgentEndpoint, directory: RunDirectory) {
        self.pid = pid
        self.endpoint = endpoint
        self.directory = directory
    }

    /// Starts the VMM. On failure the directory is removed.
    public static func start(kernel: String, rootfs: String, cpus: Int, memory: Int, cid: UInt32, seccomp: Bool,
                             directory: RunDirectory, detached: Bool = false, jail: JailPlan? = nil,
                             tap: HostTap? = nil) throws(SandboxHostError) -> VMMProcess {
        do {
            return try spawn(kernel: kernel, rootfs: rootfs, cpus: cpus, memory: memory, cid: cid, seccomp: seccomp,
                             directory: directory, detached: detached, jail: jail, tap: tap)
        } catch {
            try? directory.remove()
            throw error
        }
    }

    private static func spawn(kernel: String, rootfs: String, cpus: Int, memory: Int, cid: UInt32, seccomp: Bool,
                              directory: RunDirectory, detached: Bool, jail: JailPlan?,
                              tap: HostTap?) throws(SandboxHostError) -> VMMProcess {
        let socket = directory.file(RunDirectory.socketName)
        func boot(kernel: String, rootfs: String, console: String, socket: String) -> [String] {
            // The TAP is reached by name (interfaces are not files): the same inside the jail.
            ["boot", "--kernel", kernel, "--drive", "\(rootfs),ro",
             "--cmdline", commandLine(network: tap?.guestNetwork), "--cpus", "\(cpus)", "--memory", "\(memory)",
             "--no-stdin", "--serial-output", console, "--vsock", "\(cid),\(socket)"]
                + (tap.map { ["--net", $0.name] } ?? []) + (seccomp ? [] : ["--no-seccomp"])
        }
        let argv: [String]
        if let jail {
            // Paths inside the jail; the socket and console are reached through links in the
            // run directory (a jail root path can be too long for a Unix socket address).
            let kernelName = HostExecutable.baseName(kernel), rootfsName = HostExecutable.baseName(rootfs)
            guard kernelName != rootfsName else { throw .sameFileName(kernelName) }
            for name in [RunDirectory.socketName, "console.log"] where symlink("\(jail.root)/\(name)", directory.file(name)) != 0 {
                throw .system(operation: "symlink", path: directory.file(name), errno: errno)
            }
            argv = jail.argv(copyIn: [kernel, rootfs],
                             kilnArguments: boot(kernel: "/" + kernelName, rootfs: "/" + rootfsName,
                                                 console: "/console.log", socket: "/" + RunDirectory.socketName)
                                 + (detached ? [] : ["--die-with-parent", "\(getpid())"]))
        } else {
            argv = [try HostExecutable.path()]
                + boot(kernel: kernel, rootfs: rootfs, console: directory.file("console.log"), socket: socket)
        }
        let log = open(directory.file("vmm.log"), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw .system(operation: "create", path: directory.file("vmm.log"), errno: errno) }
        defer { close(log) }
        let cArgv = argv.map { strdup($0) } + [nil]
        defer { cArgv.forEach { free($0) } }
        var pid: pid_t = 0
        let err = cArgv.withUnsafeBufferPointer { kiln_spawn_vmm_mode($0.baseAddress, log, log, detached ? 1 : 0, &pid) }
        guard err == 0 else { throw .system(operation: "start the VMM", path: argv[0], errno: err) }
        return VMMProcess(pid: pid, endpoint: .hybridVsock(udsPath: socket), directory: directory)
    }

    public func hasExited() -> Bool {
        if exited { return true }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exited = true
            ending = kiln_host_signaled(status) != 0
                ? "killed by signal \(kiln_host_term_signal(status))\(kiln_host_term_signal(status) == SIGSYS ? " (seccomp)" : "")"
                : "exit \(kiln_host_exit_code(status))"
        }
        return exited
    }

    /// Gives a VMM that is on its way out up to 10 s to exit, then kills it.
    public func stop() {
        let deadline = monotonicNow() + 10
        while !hasExited() && monotonicNow() < deadline { usleep(5_000) }
        if !hasExited() {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            exited = true
        }
    }

    /// Ends the VM at once (SIGKILL to the VMM, then reaped).
    public func end() {
        guard !hasExited() else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        exited = true
        ending = "killed by kiln run"
    }

    /// The end of the VMM's log and of the guest console (name, text), for a run that failed.
    public func logTails() -> [(name: String, text: String)] {
        ["vmm.log", "console.log"].compactMap { name in
            guard let text = readTail(directory.file(name), bytes: 3000), !text.isEmpty else { return nil }
            return (name, text)
        }
    }

    /// The VMM's boot-timer line (the agent writes the marker as it starts), if logged.
    public func bootMarkerLine() -> String? {
        guard let text = readTail(directory.file("vmm.log"), bytes: 16384) else { return nil }
        return text.split(separator: "\n").first { $0.contains("boot-time") || $0.contains("Boot-time") || $0.contains("boot time") }
            .map(String.init)
    }

    private func readTail(_ path: String, bytes: Int) -> String? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        let start = max(0, Int(size) - bytes)
        var buffer = [UInt8](repeating: 0, count: bytes)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}
