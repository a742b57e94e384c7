import Devices
#if canImport(Glibc)
import Glibc
#endif

/// Everything needed to build one VM. Validated as a whole before anything is created, so a
/// bad value never leaves a half-built VM behind.
public struct VMConfig: Sendable {
    public static let defaultCommandLine =
        "console=ttyS0 reboot=k panic=1 pci=off nomodules i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"
    public static let minimumMemoryMiB = 16
    public static let defaultMemoryMiB = 128

    public var kernelPath: String
    public var initrdPath: String?
    public var commandLine: String
    public var vcpuCount: Int
    public var memoryMiB: Int
    /// Where the guest's serial output goes; nil means kiln's standard output.
    public var serialOutputPath: String?
    /// At most this many bytes of serial output are written (then one truncation marker line);
    /// nil means no limit. See `defaultSerialFileLimit`.
    public var serialOutputLimit: UInt64?
    /// The cap `kiln boot` puts on a console file unless told otherwise: a guest that prints
    /// forever must not fill the disk, or RAM when the file is on a tmpfs.
    public static let defaultSerialFileLimit: UInt64 = 8 << 20
    /// Feed kiln's standard input to the guest's serial port.
    public var forwardsStandardInput: Bool
    /// virtio-blk drives, in order: the first is /dev/vda in the guest.
    public var drives: [DriveConfig]
    /// Attach a virtio-rng (entropy) device fed from the host's getrandom.
    public var entropy: Bool
    /// Limits the entropy device's requests and bytes (Firecracker's entropy `rate_limiter`).
    public var entropyRateLimiter: RateLimiterConfig = .unlimited
    /// virtio-net interfaces backed by host TAP devices, after the drives and entropy on the bus.
    public var networkInterfaces: [NetConfig]
    /// A virtio-vsock device whose host side is Unix sockets at `uds_path` (Firecracker's model).
    public var vsock: VsockConfig?
    /// Host directories served read-only by virtio-fs devices, after every other virtio device
    /// on the bus.
    public var sharedDirectories: [SharedDirectoryConfig] = []
    /// Describe the machine with ACPI tables (power-off, pvpanic, virtio devices in the DSDT).
    /// Without it virtio devices are announced on the kernel command line.
    public var acpi: Bool
    /// Confine every thread with its role's seccomp filter before the guest runs.
    public var seccomp: Bool
    /// Log the pages the guest (KVM's dirty log) and the devices write, for Diff snapshots.
    public var trackDirtyPages = false
    /// Debugging aid: write guest RAM to this file if a vCPU shuts down (triple fault).
    public var guestCoreOnTripleFault: String?

    public init(kernelPath: String, initrdPath: String? = nil, commandLine: String = VMConfig.defaultCommandLine,
                vcpuCount: Int = 1, memoryMiB: Int = VMConfig.defaultMemoryMiB,
                serialOutputPath: String? = nil, forwardsStandardInput: Bool = true,
                drives: [DriveConfig] = [], entropy: Bool = false, networkInterfaces: [NetConfig] = [],
                acpi: Bool = true, seccomp: Bool = true, vsock: VsockConfig? = nil) {
        self.kernelPath = kernelPath
        self.initrdPath = initrdPath
        self.commandLine = commandLine
        self.vcpuCount = vcpuCount
        self.memoryMiB = memoryMiB
        self.serialOutputPath = serialOutputPath
        self.forwardsStandardInput = forwardsStandardInput
        self.drives = drives
        self.entropy = entropy
        self.networkInterfaces = networkInterfaces
        self.vsock = vsock
        self.acpi = acpi
        self.seccomp = seccomp
    }

    /// Checks values that do not need KVM; `maxVcpus` comes from the host and the MP table.
    /// The id drive `index` is known by: its `drive_id`, or its place for a command-line drive.
    func driveID(_ index: Int) -> String { drives[index].id ?? "drive\(index)" }

    /// `requireKernel`: false for a restore, whose kernel is in the snapshot's memory already.
    public func validate(maxVcpus: Int, hostMemoryMiB: Int, requireKernel: Bool = true) throws(VMMError) {
        guard vcpuCount >= 1 else { throw .invalidConfiguration("vCPU count must be at least 1 (got \(vcpuCount))") }
        guard vcpuCount <= maxVcpus else {
            throw .invalidConfiguration("vCPU count \(vcpuCount) exceeds the maximum of \(maxVcpus) on this host")
        }
        guard memoryMiB >= Self.minimumMemoryMiB else {
            throw .invalidConfiguration("memory of \(memoryMiB) MiB is below the minimum of \(Self.minimumMemoryMiB) MiB")
        }
        guard memoryMiB <= hostMemoryMiB else {
            throw .invalidConfiguration("memory of \(memoryMiB) MiB exceeds the host's \(hostMemoryMiB) MiB")
        }
        guard !commandLine.utf8.contains(0) else { throw .invalidConfiguration("kernel command line contains a NUL byte") }
        if requireKernel {
            try Self.requireReadableFile(kernelPath, role: "kernel")
            if let initrdPath { try Self.requireReadableFile(initrdPath, role: "initrd") }
        }
        for drive in drives { try Self.requireReadableFile(drive.path, role: "drive") }
        try NetConfig.validate(networkInterfaces)
        try vsock?.validate()
        try SharedDirectoryConfig.validate(sharedDirectories)
        guard virtioDeviceCount <= VirtioDevices.irqs.count else {
            throw .invalidConfiguration("too many virtio devices; at most \(VirtioDevices.irqs.count)")
        }
    }

    /// Every virtio device asks for its own IRQ.
    var virtioDeviceCount: Int {
        drives.count + (entropy ? 1 : 0) + networkInterfaces.count + (vsock == nil ? 0 : 1) + sharedDirectories.count
    }

    public static func requireReadableFile(_ path: String, role: String) throws(VMMError) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .file(operation: "\(role) image", path: path, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .invalidConfiguration("\(role) image \(path) is not a regular file") }
        guard access(path, R_OK) == 0 else { throw .file(operation: "\(role) image", path: path, errno: errno) }
    }

    /// Physical RAM of the host, in MiB.
    public static func hostMemoryMiB() -> Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && pageSize > 0 ? Int(pages / 1024 * pageSize / 1024) : Int.max
    }
}
