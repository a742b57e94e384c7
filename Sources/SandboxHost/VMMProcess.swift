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
    /// Where the agent announces itself (nil if it could not be set up: the host then polls).
    public let readySignal: AgentReadySignal?
    private var exited = false
    /// How the VMM ended, once it has ("exit 1", "killed by signal 31").
    public private(set) var ending: String?

    /// The guest command line: the shared image read-only, the write layer (tmpfs, or the
    /// scratch disk) and how the agent starts (GuestRoot), quiet console; with --net, eth0's
    /// addresses for the agent.
    public static func commandLine(root: GuestRoot = GuestRoot(imageDevice: nil, writeLayer: .tmpfs),
                                   network: GuestNetwork? = nil, shares: [HostShare] = [], hostname: String? = nil) -> String {
        "console=ttyS0 reboot=k panic=1 pci=off nomodules quiet i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
            + root.commandLineWords.joined(separator: " ") + (network.map { " " + $0.commandLineWord } ?? "")
            + shares.map { " " + $0.guestMount.commandLineWord }.joined()
            + (hostname.flatMap(GuestHostname.commandLineWord).map { " " + $0 } ?? "")
    }

    /// With kiln's agent initrd the agent mounts the image itself (images need no agent);
    /// without, the image's /sbin/init is the agent. A scratch disk is the second drive.
    /// An image directory is always mounted by the agent initramfs, from its share.
    static func guestRoot(image: Image, agentInitrd: String?, scratchDisk: String?) -> GuestRoot {
        let mounted: GuestRoot.Image? = switch image {
        case .directory: .share(tag: imageShareTag)
        case .disk: agentInitrd == nil ? nil : .disk(device: GuestRoot.imageDisk)
        }
        return GuestRoot(image: mounted, writeLayer: scratchDisk == nil ? .tmpfs : .disk(device: GuestRoot.scratchDisk))
    }

    private init(pid: pid_t, endpoint: AgentEndpoint, directory: RunDirectory, readySignal: AgentReadySignal?) {
        self.pid = pid
        self.endpoint = endpoint
        self.directory = directory
        self.readySignal = readySignal
    }

    /// What the guest's eth0 takes instead of kiln's own /30 on the TAP: another interface's
    /// address, gateway and MAC (kiln-oci's engine veth, whose frames the TAP is redirected to).
    public struct GuestLinkOverride: Equatable, Sendable {
        public let network: GuestNetwork
        /// Checked by the caller: six hex bytes, as `kiln --net TAP,mac=` takes them.
        public let mac: String

        public init(network: GuestNetwork, mac: String) {
            self.network = network
            self.mac = mac
        }
    }

    /// The guest's read-only image: an ext4 file on the first virtio-blk drive, or a host
    /// directory served over virtio-fs (kiln-oci's bundle rootfs; needs the agent initramfs,
    /// which mounts it).
    public enum Image: Equatable, Sendable {
        case disk(path: String)
        case directory(path: String)
    }

    /// The virtio-fs tag of an image directory (kiln's own, as for `-v` shares).
    public static let imageShareTag = "kiln-root"

    /// Starts the VMM on an ext4 image. On failure the directory is removed.
    public static func start(kernel: String, rootfs: String, cpus: Int, memory: Int, cid: UInt32, seccomp: Bool,
                             directory: RunDirectory, detached: Bool = false, jail: JailPlan? = nil,
                             tap: HostTap? = nil, agentInitrd: String? = nil,
                             scratchDisk: String? = nil, shares: [HostShare] = []) throws(SandboxHostError) -> VMMProcess {
        try start(kernel: kernel, image: .disk(path: rootfs), cpus: cpus, memory: memory, cid: cid, seccomp: seccomp,
                  directory: directory, detached: detached, jail: jail, tap: tap, agentInitrd: agentInitrd,
                  scratchDisk: scratchDisk, shares: shares)
    }

    /// Starts the VMM. On failure the directory is removed.
    public static func start(kernel: String, image: Image, cpus: Int, memory: Int, cid: UInt32, seccomp: Bool,
                             directory: RunDirectory, detached: Bool = false, jail: JailPlan? = nil,
                             tap: HostTap? = nil, agentInitrd: String? = nil,
                             scratchDisk: String? = nil, shares: [HostShare] = [],
                             hostname: String? = nil, guestLink: GuestLinkOverride? = nil,
                             record: SpawnRecord? = nil) throws(SandboxHostError) -> VMMProcess {
        do throws(SandboxHostError) {
            if case .directory = image, agentInitrd == nil { throw .directoryImageNeedsAgentInitrd }
            return try spawn(kernel: kernel, image: image, cpus: cpus, memory: memory, cid: cid, seccomp: seccomp,
                             directory: directory, detached: detached, jail: jail, tap: tap,
                             agentInitrd: agentInitrd, scratchDisk: scratchDisk, shares: shares, hostname: hostname,
                             guestLink: guestLink, record: record)
        } catch {
            try? directory.remove()
            throw error
        }
    }

    private static func spawn(kernel: String, image: Image, cpus: Int, memory: Int, cid: UInt32, seccomp: Bool,
                              directory: RunDirectory, detached: Bool, jail: JailPlan?, tap: HostTap?,
                              agentInitrd: String?, scratchDisk: String?,
                              shares: [HostShare], hostname: String?,
                              guestLink: GuestLinkOverride?, record: SpawnRecord?) throws(SandboxHostError) -> VMMProcess {
        let socket = directory.file(RunDirectory.socketName)
        let arguments = VMMArguments(kernel: kernel, image: image, cpus: cpus, memory: memory, cid: cid, seccomp: seccomp,
                                     detached: detached, tap: tap, agentInitrd: agentInitrd, scratchDisk: scratchDisk,
                                     shares: shares, hostname: hostname, guestLink: guestLink)
        // Without it the host polls the agent, which is slower, but still works.
        var ready = try? AgentReadySignal(vsockSocket: socket)
        let argv: [String]
        if let jail {
            // The socket and console are reached through links in the run directory (a jail
            // root path can be too long for a Unix socket address).
            try linkJailFiles(jail, directory: directory, names: [RunDirectory.socketName, "console.log"]
                                                                + (detached ? [RunDirectory.apiSocketName] : []))
            if let signal = ready, (try? signal.allow(uid: jail.uid, gid: jail.gid)) == nil { ready = nil }
            argv = try arguments.jailed(jail, readinessSocket: ready?.path, parentPid: detached ? nil : getpid())
        } else {
            argv = arguments.direct(kiln: try HostExecutable.kiln(), runDirectory: directory.path)
        }
        return try launch(argv, directory: directory, detached: detached, ready: ready, record: record)
    }

    /// The VMM's files in the jail root, reached through links of the same names in the run
    /// directory (a jail root path can be too long for a Unix socket address).
    static func linkJailFiles(_ jail: JailPlan, directory: RunDirectory, names: [String]) throws(SandboxHostError) {
        for name in names where symlink("\(jail.root)/\(name)", directory.file(name)) != 0 {
            throw .system(operation: "symlink", path: directory.file(name), errno: errno)
        }
    }

    /// Starts `argv` with its output in the run directory's vmm.log; `record`, if any, before
    /// the child may exec (SpawnRecord).
    static func launch(_ argv: [String], directory: RunDirectory, detached: Bool,
                       ready: AgentReadySignal? = nil, record: SpawnRecord? = nil) throws(SandboxHostError) -> VMMProcess {
        let socket = directory.file(RunDirectory.socketName)
        let log = open(directory.file("vmm.log"), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw .system(operation: "create", path: directory.file("vmm.log"), errno: errno) }
        defer { close(log) }
        let cArgv = argv.map { strdup($0) } + [nil]
        defer { cArgv.forEach { free($0) } }
        var pid: pid_t = 0
        let err = SpawnRecord.with(record) { recorder, context in
            cArgv.withUnsafeBufferPointer { kiln_spawn_vmm_mode($0.baseAddress, log, log, detached ? 1 : 0, recorder, context, &pid) }
        }
        guard err == 0 else { throw .system(operation: "start the VMM", path: argv[0], errno: err) }
        return VMMProcess(pid: pid, endpoint: .hybridVsock(udsPath: socket), directory: directory, readySignal: ready)
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

    /// The VMM's timing lines, if logged: its set-up time (start to the first KVM_RUN, which
    /// for a restore is the restore's time to a running guest) and the boot-timer line (the
    /// agent writes the marker as it starts; a restored guest never writes it again).
    public func timingLines() -> String? {
        guard let text = readTail(directory.file("vmm.log"), bytes: 16384) else { return nil }
        let lines = text.split(separator: "\n").filter {
            $0.contains("set-up took") || $0.contains("boot-time") || $0.contains("Boot-time") || $0.contains("boot time")
        }
        return lines.isEmpty ? nil : lines.joined(separator: "; ")
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
