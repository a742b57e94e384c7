import ArgumentParser
import CHost
import VMM
#if canImport(Glibc)
import Glibc
#endif

struct Boot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot a 64-bit kernel image (ELF vmlinux or bzImage) and attach its serial console.",
        discussion: """
            The guest's serial port (ttyS0) is connected to kiln's standard output and input. \
            kiln exits 0 when the guest resets or powers off, 2 when the guest reports a crash, \
            and 1 when the VM cannot be built or KVM fails.
            """)

    @Option(help: ArgumentHelp("Kernel image: ELF vmlinux or bzImage.", valueName: "path"))
    var kernel: String

    @Option(help: ArgumentHelp("Initial ramdisk loaded for the kernel.", valueName: "path"))
    var initrd: String?

    @Option(help: ArgumentHelp("Kernel command line.", valueName: "string"))
    var cmdline: String = VMConfig.defaultCommandLine

    @Option(help: "Number of vCPUs.")
    var cpus: Int = BootSettings.defaultCPUs

    @Option(help: ArgumentHelp("Guest memory in MiB.", valueName: "MiB"))
    var memory: Int = VMConfig.defaultMemoryMiB

    @Option(help: ArgumentHelp("Write the serial console to this file instead of standard output.", valueName: "path"))
    var serialOutput: String?

    @Option(help: ArgumentHelp("Keep at most this many bytes of console output (K, M, G suffixes: KiB, MiB, GiB), "
                               + "then write one truncation line and drop the rest; 0 for no limit. Default: "
                               + "8M with --serial-output, no limit on standard output.", valueName: "bytes"))
    var serialOutputLimit: String?

    @Flag(help: "Do not forward standard input to the guest's serial port.")
    var noStdin = false

    @Option(name: .customLong("drive"),
            help: ArgumentHelp("A virtio-blk disk backed by a host file; append ',ro' for read-only. "
                               + "Repeatable: the first is /dev/vda.", valueName: "path[,ro]"))
    var drives: [String] = []

    @Flag(help: "Attach a virtio-rng entropy device fed from the host's getrandom.")
    var entropy = false

    @Option(name: .customLong("net"),
            help: ArgumentHelp("A virtio-net interface backed by the host TAP device TAP (created if missing, "
                               + "which needs CAP_NET_ADMIN); the guest's MAC is derived from the name unless "
                               + "given. Repeatable: the first is eth0.", valueName: "TAP[,mac=AA:BB:CC:DD:EE:FF]"))
    var networkInterfaces: [String] = []

    @Option(help: ArgumentHelp("A virtio-vsock device with guest CID (3 or more) whose host side is Unix "
                               + "sockets: host clients connect to PATH and send 'CONNECT <port>\\n'; guest "
                               + "connections to host port P reach PATH_P (Firecracker's model).",
                               valueName: "CID,PATH"))
    var vsock: String?

    @Option(name: .customLong("share"),
            help: ArgumentHelp("Serve the host directory DIR read-only to the guest over virtio-fs; the guest mounts it "
                               + "with 'mount -t virtiofs TAG MOUNTPOINT'. TAG is 1 to 36 bytes. Repeatable.",
                               valueName: "DIR:TAG"))
    var shares: [String] = []

    @Option(help: ArgumentHelp("Serve Firecracker's API for the running VM on this Unix socket (must not exist): "
                               + "PATCH /vm to pause or resume, PUT /snapshot/create, PUT /actions SendCtrlAltDel "
                               + "(`kiln create` gives its VMM one, for `kiln snapshot`).", valueName: "path"))
    var controlSock: String?

    @Flag(help: "No ACPI tables: virtio devices are announced on the kernel command line instead, and a guest power-off only halts.")
    var noACPI = false

    @Flag(help: "Do not confine kiln's threads with seccomp filters (for debugging only).")
    var noSeccomp = false

    /// `kiln run` under kiln-jailer: the jailer's setuid cleared the death signal kiln_spawn_vmm
    /// set, so the VMM sets it again and checks its parent is still that `kiln run`.
    @Option(help: .hidden)
    var dieWithParent: Int32?

    func run() throws {
        try BootSettings(kernel: kernel, initrd: initrd, cmdline: cmdline, cpus: cpus, memory: memory,
                         serialOutput: serialOutput, serialOutputLimit: serialOutputLimit, noStdin: noStdin,
                         drives: drives, entropy: entropy, networkInterfaces: networkInterfaces, vsock: vsock,
                         shares: shares, controlSock: controlSock, noACPI: noACPI, noSeccomp: noSeccomp,
                         dieWithParent: dieWithParent).run()
    }
}

extension Boot {
    /// `--serial-output-limit`: bytes with an optional K, M or G suffix (binary), 0 for none;
    /// when not given, `VMConfig.defaultSerialFileLimit` for a file and none for standard output.
    static func serialLimit(_ text: String?, toFile: Bool) -> UInt64? {
        guard let text else { return toFile ? VMConfig.defaultSerialFileLimit : nil }
        var digits = Substring(text), shift: UInt64 = 0
        switch digits.last {
        case "K", "k": shift = 10
        case "M", "m": shift = 20
        case "G", "g": shift = 30
        default: break
        }
        if shift > 0 { digits = digits.dropLast() }
        guard let value = UInt64(digits), value <= (UInt64.max - 1) >> shift else {
            fail("--serial-output-limit: '\(text)' is not a byte count (e.g. 65536, 512K, 8M)")
        }
        return value == 0 ? nil : value << shift
    }

    /// `kiln` itself declares `--no-seccomp` too (Firecracker's flag, for API mode), and
    /// ArgumentParser hands a flag both levels declare to the root command, so `kiln boot
    /// --no-seccomp` would otherwise be dropped silently.
    static var rootTookNoSeccomp: Bool { CommandLine.arguments.dropFirst().contains("--no-seccomp") }

    /// `PATH` or `PATH,ro` (also `,rw`), and `,io=sync|async` (the drive's I/O engine).
    static func parseDrive(_ text: String) throws -> DriveConfig {
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let path = parts.removeFirst()
        guard !path.isEmpty else { fail("--drive needs a path (got '\(text)')") }
        var drive = DriveConfig(path: path, readOnly: false)
        for option in parts {
            switch option {
            case "ro": drive.readOnly = true
            case "rw": drive.readOnly = false
            case "io=sync": drive.ioEngine = .sync
            case "io=async": drive.ioEngine = .async
            default: fail("--drive \(text): unknown option '\(option)' (use ro, rw, io=sync or io=async)")
            }
        }
        return drive
    }
}

extension Boot {
    /// `TAP` or `TAP,mac=AA:BB:CC:DD:EE:FF`; the interface ID is `eth<index>`. The MAC itself
    /// is checked with the rest of the configuration.
    static func parseNet(_ text: String, index: Int) -> NetConfig {
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let tap = parts.removeFirst()
        guard !tap.isEmpty else { fail("--net needs a TAP interface name (got '\(text)')") }
        var mac: String?
        for option in parts {
            if option.hasPrefix("mac=") {
                mac = String(option.dropFirst(4))
            } else {
                fail("--net \(text): unknown option '\(option)' (use mac=AA:BB:CC:DD:EE:FF)")
            }
        }
        return NetConfig(id: "eth\(index)", tapName: tap, mac: mac)
    }

    /// `DIR:TAG`, split at the last ':' (a host path may hold colons, a tag may not); the
    /// tag's length and the directory are checked with the rest of the configuration.
    static func parseShare(_ text: String) -> SharedDirectoryConfig {
        guard let colon = text.lastIndex(of: ":") else { fail("--share needs DIR:TAG (got '\(text)')") }
        let path = String(text[..<colon]), tag = String(text[text.index(after: colon)...])
        guard !path.isEmpty else { fail("--share \(text): no host directory before ':'") }
        guard !tag.isEmpty else { fail("--share \(text): no tag after ':'") }
        return SharedDirectoryConfig(tag: tag, hostPath: path)
    }

    /// `CID,PATH`: a decimal CID, then the socket path (which may itself contain commas).
    static func parseVsock(_ text: String) -> VsockConfig {
        guard let comma = text.firstIndex(of: ",") else { fail("--vsock needs CID,PATH (got '\(text)')") }
        let cidText = text[..<comma], path = String(text[text.index(after: comma)...])
        guard let cid = UInt64(cidText) else { fail("--vsock: guest CID '\(cidText)' is not a number") }
        guard !path.isEmpty else { fail("--vsock needs a socket path after the CID (got '\(text)')") }
        return VsockConfig(guestCID: cid, udsPath: path)
    }
}

/// Boots `config`, reports how the VM ended and exits with the matching code.
func runVM(_ config: VMConfig) throws -> Never {
    let outcome: VMOutcome
    var config = config
    if let path = getenv(GuestCoreDump.environmentVariable).map({ String(cString: $0) }), !path.isEmpty {
        config.guestCoreOnTripleFault = path
    }
    do {
        outcome = try Machine.boot(config)
    } catch {
        fail("\(error)")
    }
    // Always say how the VM ended: an exit status of 0 covers several different endings.
    printError("kiln: VM ended: \(outcome)")
    throw ExitCode(outcome.exitCode)
}
