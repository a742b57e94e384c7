import ArgumentParser
import Glibc
import Sandbox
import SandboxHost
import VMM

/// The VM flags `kiln run` and `kiln create` share, and their checks.
struct VMOptions: ParsableArguments {
    @Option(help: "Number of vCPUs.")
    var cpus: Int = RunDefaults.cpus

    @Option(help: ArgumentHelp("Guest memory in MiB.", valueName: "MiB"))
    var memory: Int = RunDefaults.memory

    @Option(help: ArgumentHelp("Root filesystem image (ext4 with kiln-agent as /sbin/init; default $KILN_SANDBOX_ROOTFS). With neither this nor --image, kiln runs its default image kiln.local/default:latest (Debian with python3, Rootfs/build-default-image.sh).", valueName: "img"))
    var rootfs: String?

    @Option(help: ArgumentHelp("Guest kernel (vmlinux or bzImage; default $KILN_VMLINUX, else the one `kiln setup` installed).", valueName: "img"))
    var kernel: String?

    @Option(help: ArgumentHelp("kiln-agent initramfs (Rootfs/build-agent-initrd.sh; default $KILN_AGENT_INITRD, else the one `kiln setup` installed): the agent mounts the image itself, so the image needs no agent. Without one, the image's /sbin/init must be the agent.", valueName: "path"))
    var agentInitrd: String?

    @Option(help: ArgumentHelp("Give the sandbox a sparse ext4 scratch disk of this size (at least 64M, e.g. 512M, 2G) for its writes instead of a tmpfs in guest memory; removed with the sandbox.", valueName: "size"))
    var diskSize: String?

    /// Checked in resolve(); the TAP itself is made by TapRecord once the run directory exists.
    @Flag(help: "Give the guest an eth0 linked to the host only (needs root): TAP kilntap<k> on the host, the k-th /30 of 172.31.0.0/16 (host .1, guest .2, the guest's default route via the host). No NAT or forwarding.")
    var net = false

    @Option(name: [.customShort("v"), .customLong("volume")],
            help: ArgumentHelp("Share the host directory HOST read-only with the guest at the absolute path GUEST "
                               + "(virtio-fs; writes there fail with EROFS). Repeatable.", valueName: "HOST:GUEST"))
    var volumes: [String] = []

    /// The nested test harness boots a guest in seconds, a hardware host in well under one; ten
    /// cold boots at once on the harness's one emulated CPU took over two minutes.
    @Option(help: ArgumentHelp("Seconds the guest may take to boot and its agent to answer before kiln gives up (exit 125); 1 to 3600. Raise it where boots are slow, such as nested emulation.", valueName: "s"))
    var bootTimeout: Double = RunDefaults.bootTimeout

    @Flag(help: .hidden)
    var noSeccomp = false

    /// A one-line error (exit 125) for a --boot-timeout out of range.
    func checkBootTimeout() {
        guard bootTimeout.isFinite, (1...3600).contains(bootTimeout) else {
            fail("--boot-timeout \(bootTimeout): must be 1 to 3600 seconds")
        }
    }

    @OptionGroup var jail: JailOptions

    /// The kernel, rootfs and agent initrd once every flag is valid; a one-line error (exit 125)
    /// otherwise.
    /// `imageRootfs`: the root filesystem of `--image` (from the store), which replaces --rootfs
    /// and needs the agent initramfs (an image carries no agent of its own).
    func resolve(imageRootfs: String? = nil) -> (kernel: String, rootfs: String, agentInitrd: String?) {
        guard (1...64).contains(cpus) else { fail("--cpus \(cpus): must be 1 to 64") }
        guard memory >= VMConfig.minimumMemoryMiB else { fail("--memory \(memory): at least \(VMConfig.minimumMemoryMiB) MiB") }
        if net, let problem = HostTap.privilegeProblem(procStatus: FileText.read("/proc/self/status")) { fail(problem) }
        let assets = GuestAssets.current()
        let initrd = agentInitrd ?? getenv("KILN_AGENT_INITRD").map { String(cString: $0) } ?? GuestAssets.readable(assets.agentInitrd)
        if let initrd, !initrd.isEmpty, access(initrd, R_OK) != 0 {
            fail("--agent-initrd \(initrd): \(String(cString: strerror(errno)))")
        }
        if let diskSize {
            // The free-space bound needs the run directory; the rest is checked before it exists.
            do {
                guard try ScratchDisk.parseSize(diskSize) >= ScratchDisk.minimumBytes else {
                    fail(ScratchDiskError.tooSmall(diskSize).description)
                }
            } catch { fail(error.description) }
        }
        let agent = initrd.flatMap { $0.isEmpty ? nil : $0 }
        if let imageRootfs {
            if rootfs != nil { fail("--rootfs and --image exclude each other") }
            guard let agent else {
                fail("--image needs the agent initramfs: --agent-initrd PATH, $KILN_AGENT_INITRD or `kiln setup --agent-initrd PATH` (Rootfs/build-agent-initrd.sh builds it)")
            }
            return (Self.requiredFile(kernel ?? Self.installedKernel(assets), environment: "KILN_VMLINUX", option: "--kernel",
                                    hint: "none installed either: Kernels/build.sh builds one, kiln setup --kernel PATH installs it"), imageRootfs, agent)
        }
        return (Self.requiredFile(kernel ?? Self.installedKernel(assets), environment: "KILN_VMLINUX", option: "--kernel",
                                    hint: "none installed either: Kernels/build.sh builds one, kiln setup --kernel PATH installs it"),
                Self.requiredFile(rootfs, environment: "KILN_SANDBOX_ROOTFS", option: "--rootfs",
                                    hint: "see Rootfs/build-sandbox.sh"),
                agent)
    }

    /// The shares of -v, checked (HOST an existing directory, GUEST an absolute path without
    /// `..`, no guest path twice); a one-line error (exit 125) otherwise.
    func shares() -> [HostShare] {
        do {
            let shares = try volumes.enumerated().map { (index, text) throws(HostShareError) in
                try HostShare.parse(text, index: index)
            }
            try HostShare.checkDistinct(shares)
            return shares
        } catch { fail(error.description) }
    }

    /// The scratch disk of --disk-size, made in `directory` (checked against the room there);
    /// nil without the option. On failure the directory is removed and the error is thrown.
    func scratchDisk(in directory: RunDirectory) throws(SandboxHostError) -> String? {
        guard let diskSize else { return nil }
        do {
            let bytes = try ScratchDisk.checkedSize(diskSize, directory: directory.path)
            return try ScratchDisk.create(in: directory.path, bytes: bytes)
        } catch {
            try? directory.remove()
            throw .scratchDisk(error)
        }
    }

    /// The kernel `kiln setup` installed, unless $KILN_VMLINUX names one.
    private static func installedKernel(_ assets: GuestAssets) -> String? {
        if let value = getenv("KILN_VMLINUX"), value.pointee != 0 { return nil }
        return GuestAssets.readable(assets.kernel)
    }

    private static func requiredFile(_ value: String?, environment: String, option: String, hint: String) -> String {
        guard let path = value ?? getenv(environment).map({ String(cString: $0) }), !path.isEmpty else {
            fail("no \(option) given and $\(environment) is not set (\(hint))")
        }
        guard access(path, R_OK) == 0 else { fail("\(option) \(path): \(String(cString: strerror(errno)))") }
        return path
    }
}
