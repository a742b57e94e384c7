import ArgumentParser
import VMM
#if canImport(Glibc)
import Glibc
#endif

struct Boot: ParsableCommand {
    static let configuration = CommandConfiguration(
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
    var cpus: Int = 1

    @Option(help: ArgumentHelp("Guest memory in MiB.", valueName: "MiB"))
    var memory: Int = VMConfig.defaultMemoryMiB

    @Option(help: ArgumentHelp("Write the serial console to this file instead of standard output.", valueName: "path"))
    var serialOutput: String?

    @Flag(help: "Do not forward standard input to the guest's serial port.")
    var noStdin = false

    @Option(name: .customLong("drive"),
            help: ArgumentHelp("A virtio-blk disk backed by a host file; append ',ro' for read-only. "
                               + "Repeatable: the first is /dev/vda.", valueName: "path[,ro]"))
    var drives: [String] = []

    @Flag(help: "Attach a virtio-rng entropy device fed from the host's getrandom.")
    var entropy = false

    @Option(help: ArgumentHelp("A virtio-vsock device with guest CID (3 or more) whose host side is Unix "
                               + "sockets: host clients connect to PATH and send 'CONNECT <port>\\n'; guest "
                               + "connections to host port P reach PATH_P (Firecracker's model).",
                               valueName: "CID,PATH"))
    var vsock: String?

    @Flag(help: "No ACPI tables: virtio devices are announced on the kernel command line instead, and a guest power-off only halts.")
    var noACPI = false

    @Flag(help: "Do not confine kiln's threads with seccomp filters (for debugging only).")
    var noSeccomp = false

    func run() throws {
        let config = VMConfig(
            kernelPath: kernel, initrdPath: initrd, commandLine: cmdline, vcpuCount: cpus,
            memoryMiB: memory, serialOutputPath: serialOutput, forwardsStandardInput: !noStdin,
            drives: try drives.map(Self.parseDrive), entropy: entropy, acpi: !noACPI, seccomp: !noSeccomp,
            vsock: vsock.map(Self.parseVsock))
        try runVM(config)
    }
}

extension Boot {
    /// `PATH` or `PATH,ro` (also `,rw`).
    static func parseDrive(_ text: String) throws -> DriveConfig {
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let path = parts.removeFirst()
        guard !path.isEmpty else { fail("--drive needs a path (got '\(text)')") }
        var readOnly = false
        for option in parts {
            switch option {
            case "ro": readOnly = true
            case "rw": readOnly = false
            default: fail("--drive \(text): unknown option '\(option)' (use ro or rw)")
            }
        }
        return DriveConfig(path: path, readOnly: readOnly)
    }
}

extension Boot {
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
    do {
        outcome = try Machine.boot(config)
    } catch {
        fail("\(error)")
    }
    // Always say how the VM ended: an exit status of 0 covers several different endings.
    printError("kiln: VM ended: \(outcome)")
    throw ExitCode(outcome.exitCode)
}

/// Prints one line to standard error.
func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    printError("kiln: error: \(message)")
    exit(1)
}
