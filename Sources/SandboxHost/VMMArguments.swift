/// The command line that starts one VMM, from its settings alone: no file is touched and
/// nothing started, so what kiln hands kiln-jailer (which files are copied into the jail and
/// which are bind-mounted read-only) is checked by unit tests.
struct VMMArguments {
    let kernel: String
    let image: VMMProcess.Image
    let cpus: Int
    let memory: Int
    let cid: UInt32
    let seccomp: Bool
    /// A sandbox (`kiln create`): an API socket for `kiln snapshot`; a throwaway run has none.
    let detached: Bool
    let tap: HostTap?
    let agentInitrd: String?
    let scratchDisk: String?
    let shares: [HostShare]
    let hostname: String?
    let guestLink: VMMProcess.GuestLinkOverride?

    /// A disk image is the first drive; an image directory the first share (its tag is not on
    /// the command line as a kiln.mount=: the agent mounts it as the root).
    private var rootfs: String? {
        if case .disk(let path) = image { return path }
        return nil
    }

    private var shareTags: [String] {
        if case .directory = image { return [VMMProcess.imageShareTag] + shares.map(\.tag) }
        return shares.map(\.tag)
    }

    private var shareHostPaths: [String] {
        if case .directory(let path) = image { return [path] + shares.map(\.hostPath) }
        return shares.map(\.hostPath)
    }

    /// `kiln boot` unjailed: host paths, the sockets and console in the run directory.
    func direct(kiln: String, runDirectory: String) -> [String] {
        [kiln] + boot(kernel: kernel, rootfs: rootfs, initrd: agentInitrd, scratch: scratchDisk,
                      console: runDirectory + "/console.log", socket: runDirectory + "/" + RunDirectory.socketName,
                      controlSocket: runDirectory + "/" + RunDirectory.apiSocketName, shareDirectories: shareHostPaths)
    }

    /// kiln-jailer around `kiln boot`, paths as the jailed VMM sees them. The jailer copies the
    /// scratch disk in by name (sparsely, owned by the jail's user, so the VMM may write it) and
    /// bind-mounts the kernel, the agent initramfs and the image read-only: never copied, their
    /// page cache shared by every jail. Shared directories are bind-mounted read-only, nosuid,
    /// nodev (see JailPlan); the readiness socket beside the VMM's own, where the jailed VMM
    /// delivers the guest's connections to the readiness port. `parentPid`: a throwaway run's
    /// VMM dies with it.
    func jailed(_ jail: JailPlan, readinessSocket: String?, parentPid: Int32?) throws(SandboxHostError) -> [String] {
        let copied = [scratchDisk].compactMap { $0 }
        let bound = [kernel] + [agentInitrd].compactMap { $0 } + (rootfs.map { [$0] } ?? [])
        // The jail holds each file as /<its name>: two of one name would be one file.
        var names: Set<String> = []
        for name in (copied + bound).map(HostExecutable.baseName) where !names.insert(name).inserted {
            throw .sameFileName(name)
        }
        func inJail(_ path: String) -> String { "/" + HostExecutable.baseName(path) }
        let arguments = boot(kernel: inJail(kernel), rootfs: rootfs.map(inJail), initrd: agentInitrd.map(inJail),
                             scratch: scratchDisk.map(inJail), console: "/console.log",
                             socket: "/" + RunDirectory.socketName, controlSocket: "/" + RunDirectory.apiSocketName,
                             shareDirectories: shareHostPaths.indices.map(JailPlan.sharedDirectoryPath))
        return jail.argv(copyIn: copied, bindIn: bound + (readinessSocket.map { [$0] } ?? []),
                         bindInDirectories: shareHostPaths,
                         kilnArguments: arguments + (parentPid.map { ["--die-with-parent", "\($0)"] } ?? []))
    }

    private func boot(kernel: String, rootfs: String?, initrd: String?, scratch: String?, console: String,
                      socket: String, controlSocket: String, shareDirectories: [String]) -> [String] {
        let root = VMMProcess.guestRoot(image: image, agentInitrd: agentInitrd, scratchDisk: scratchDisk)
        let commandLine = VMMProcess.commandLine(root: root, network: guestLink?.network ?? tap?.guestNetwork,
                                                 shares: shares, hostname: hostname)
        var argv = ["boot", "--kernel", kernel]
        if let rootfs { argv += ["--drive", "\(rootfs),ro"] }
        if let scratch { argv += ["--drive", "\(scratch),rw"] }
        if let initrd { argv += ["--initrd", initrd] }
        argv += ["--cmdline", commandLine, "--cpus", "\(cpus)", "--memory", "\(memory)", "--no-stdin",
                 "--serial-output", console, "--vsock", "\(cid),\(socket)"]
        // virtio-rng credits the guest's crng as its driver probes, before /init. Without a
        // source the guest kernel has none here (no RDRAND in nested emulation, our kernel
        // trusts no boot loader seed), and the agent's Swift runtime, which seeds its hashing
        // with a blocking getrandom at start, waited ~1.2 s in the nested harness for the
        // kernel's jitter entropy; so would python3 or ssl in the image.
        argv.append("--entropy")
        // The TAP is reached by name (interfaces are not files): the same inside the jail.
        if let tap { argv += ["--net", tap.name + (guestLink.map { ",mac=\($0.mac)" } ?? "")] }
        if !seccomp { argv.append("--no-seccomp") }
        for (directory, tag) in zip(shareDirectories, shareTags) { argv += ["--share", directory + ":" + tag] }
        if detached { argv += ["--control-sock", controlSocket] }
        return argv
    }
}
