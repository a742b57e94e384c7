import CHost
import KilnCommandLine
import VMM

/// `kiln boot`'s options as plain values: what `Boot` (ArgumentParser) parsed, or what
/// `QuickCommandLine` read from the same command line on the start-up fast path.
struct BootSettings {
    static let defaultCPUs = 1

    var kernel: String
    var initrd: String?
    var cmdline = VMConfig.defaultCommandLine
    var cpus = defaultCPUs
    var memory = VMConfig.defaultMemoryMiB
    var serialOutput: String?
    var serialOutputLimit: String?
    var noStdin = false
    var drives: [String] = []
    var entropy = false
    var networkInterfaces: [String] = []
    var vsock: String?
    var shares: [String] = []
    var controlSock: String?
    var noACPI = false
    var noSeccomp = false
    var dieWithParent: Int32?

    /// nil when a value would need ArgumentParser's conversion errors (not a number) or a
    /// required option is missing: the caller then lets ArgumentParser say so.
    init?(_ line: QuickCommandLine) {
        guard let kernel = line.value("--kernel") else { return nil }
        self.kernel = kernel
        initrd = line.value("--initrd")
        if let text = line.value("--cmdline") { cmdline = text }
        if let text = line.value("--cpus") {
            guard let value = Int(text) else { return nil }
            cpus = value
        }
        if let text = line.value("--memory") {
            guard let value = Int(text) else { return nil }
            memory = value
        }
        if let text = line.value("--die-with-parent") {
            guard let value = Int32(text) else { return nil }
            dieWithParent = value
        }
        serialOutput = line.value("--serial-output")
        serialOutputLimit = line.value("--serial-output-limit")
        noStdin = line.flag("--no-stdin")
        drives = line.values("--drive")
        entropy = line.flag("--entropy")
        networkInterfaces = line.values("--net")
        vsock = line.value("--vsock")
        shares = line.values("--share")
        controlSock = line.value("--control-sock")
        noACPI = line.flag("--no-acpi")
        noSeccomp = line.flag("--no-seccomp")
    }

    init(kernel: String, initrd: String?, cmdline: String, cpus: Int, memory: Int, serialOutput: String?,
         serialOutputLimit: String?, noStdin: Bool, drives: [String], entropy: Bool, networkInterfaces: [String],
         vsock: String?, shares: [String], controlSock: String?, noACPI: Bool, noSeccomp: Bool, dieWithParent: Int32?) {
        self.kernel = kernel
        self.initrd = initrd
        self.cmdline = cmdline
        self.cpus = cpus
        self.memory = memory
        self.serialOutput = serialOutput
        self.serialOutputLimit = serialOutputLimit
        self.noStdin = noStdin
        self.drives = drives
        self.entropy = entropy
        self.networkInterfaces = networkInterfaces
        self.vsock = vsock
        self.shares = shares
        self.controlSock = controlSock
        self.noACPI = noACPI
        self.noSeccomp = noSeccomp
        self.dieWithParent = dieWithParent
    }

    func run() throws {
        // First, while kiln has one thread and no seccomp filter (the jailer sets rlimits).
        ignoreOutputSignals()
        if let dieWithParent, kiln_die_with_parent(dieWithParent) != 0 {
            fail("--die-with-parent \(dieWithParent): the parent is gone or prctl failed")
        }
        var config = VMConfig(
            kernelPath: kernel, initrdPath: initrd, commandLine: cmdline, vcpuCount: cpus,
            memoryMiB: memory, serialOutputPath: serialOutput, forwardsStandardInput: !noStdin,
            drives: try drives.map(Boot.parseDrive), entropy: entropy,
            networkInterfaces: networkInterfaces.enumerated().map { Boot.parseNet($1, index: $0) },
            acpi: !noACPI, seccomp: !(noSeccomp || Boot.rootTookNoSeccomp), vsock: vsock.map(Boot.parseVsock))
        config.serialOutputLimit = Boot.serialLimit(serialOutputLimit, toFile: serialOutput != nil)
        config.sharedDirectories = shares.map(Boot.parseShare)
        // Still the only thread: what the jailer let through is settled before any other exists.
        do { try ThreadCapabilities.enterProcess(sharesDirectories: !config.sharedDirectories.isEmpty,
                                                                  seccomp: config.seccomp) } catch { fail("\(error)") }
        if let controlSock { try runVMServingAPI(config, socketPath: controlSock) }
        try runVM(config)
    }
}
