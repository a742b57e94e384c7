import ArgumentParser
import Jailer
#if canImport(Glibc)
import Glibc
#endif

@main
struct JailerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln-jailer",
        abstract: "Start kiln in a jail: own mount (and optionally PID/network) namespace, no capabilities, non-root, cgroup and resource limits.",
        discussion: """
            Builds <chroot-base-dir>/<exec name>/<id>/root, copies the executable there, creates \
            /dev/kvm, /dev/net/tun and /dev/urandom owned by --uid:--gid, joins the cgroups, \
            pivots into the jail, drops every capability and execs the executable with the \
            arguments after `--`. Run as root. Semantics follow Firecracker's jailer.
            """)

    @Option(help: "Unique VM id: letters, digits and '-', 1 to 64 characters.")
    var id: String

    @Option(help: ArgumentHelp("The VMM executable to copy into the jail and exec (a static kiln).", valueName: "path"))
    var execFile: String

    @Option(help: "User id the VMM runs as.")
    var uid: UInt32

    @Option(help: "Group id the VMM runs as.")
    var gid: UInt32

    @Option(help: ArgumentHelp("Where jails are built.", valueName: "dir"))
    var chrootBaseDir: String = "/srv/jailer"

    @Option(help: ArgumentHelp("Network namespace to join (e.g. /var/run/netns/NAME).", valueName: "path"))
    var netns: String?

    @Flag(help: "Detach (setsid) and redirect standard input, output and error to /dev/null.")
    var daemonize = false

    @Flag(help: "Exec the VMM as PID 1 of a new PID namespace; its host pid goes to <exec name>.pid in the jail.")
    var newPidNs = false

    @Option(help: "cgroup hierarchy: 1 or 2.")
    var cgroupVersion: Int = 1

    @Option(name: .customLong("cgroup"), help: ArgumentHelp("A cgroup file and value, e.g. pids.max=64 (repeatable).", valueName: "file=value"))
    var cgroups: [String] = []

    @Option(help: ArgumentHelp("Cgroup path the VM's group is created in (default: the exec file's name).", valueName: "path"))
    var parentCgroup: String?

    @Option(name: .customLong("resource-limit"), help: ArgumentHelp("fsize=N or no-file=N (repeatable).", valueName: "resource=value"))
    var resourceLimits: [String] = []

    @Option(name: .customLong("copy-in"), help: ArgumentHelp("Copy a host file (kernel, initrd, disk, config) into the jail root, owned by uid:gid (repeatable).", valueName: "path"))
    var copyIn: [String] = []

    @Option(name: .customLong("bind-in"), help: ArgumentHelp("Make a host file (a root filesystem image) or Unix socket (one the VMM connects to) appear read-only in the jail root, bind-mounted in the jail's mount namespace instead of copied (repeatable).", valueName: "path"))
    var bindIn: [String] = []

    @Option(name: .customLong("bind-in-dir"), help: ArgumentHelp("Make a host directory (a virtio-fs share) appear read-only, nosuid, nodev and noexec at /share<N> in the jail, N counting these options from 0 (repeatable).", valueName: "path"))
    var bindInDirectories: [String] = []

    @Flag(help: "Allow uid or gid 0 for the VMM (it still loses every capability).")
    var allowRoot = false

    @Flag(help: "Keep CAP_DAC_READ_SEARCH (only it; needs --bind-in-dir), for the VMM's virtio-fs servers to read root-only files of the shared directories; kiln confines it to its device thread.")
    var keepDacReadSearch = false

    @Argument(parsing: .postTerminator, help: "Arguments for the VMM, after `--`.")
    var execArguments: [String] = []

    /// The request this line makes, as the fast path builds it for the same line.
    func request() -> JailRequest {
        var request = JailRequest(id: id, execFile: execFile, uid: uid, gid: gid)
        request.chrootBaseDir = chrootBaseDir
        request.netns = netns
        request.daemonize = daemonize
        request.newPidNamespace = newPidNs
        request.cgroupVersion = cgroupVersion
        request.cgroups = cgroups
        request.parentCgroup = parentCgroup
        request.resourceLimits = resourceLimits
        request.copyIn = copyIn
        request.bindIn = bindIn
        request.bindInDirectories = bindInDirectories
        request.allowRoot = allowRoot
        request.keepDacReadSearch = keepDacReadSearch
        request.execArguments = execArguments
        return request
    }

    func run() throws {
        Self.jail(request())
    }

    static func jail(_ request: JailRequest) -> Never {
        do {
            try Jail.run(try JailConfig.validate(request))
        } catch {
            fail("\(error)")
        }
    }

    /// Argument errors as one line (ArgumentParser's default adds the usage text). kiln's own
    /// line (JailerFastPath) skips ArgumentParser.
    static func main() {
        if let request = JailerFastPath.request(CommandLine.arguments.dropFirst()) { jail(request) }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            fail(message(for: error))
        }
    }
}

func fail(_ message: String) -> Never {
    var line = "kiln-jailer: error: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(1)
}
