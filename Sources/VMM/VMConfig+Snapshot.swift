import Devices

/// The machine's configuration in a snapshot (section `vmm.config`): what a restore needs to
/// rebuild the same machine (vCPUs, memory, the same devices in the same bus order with the
/// same ids, MACs, disks and CID). Console and seccomp settings belong to the restoring
/// process and are not saved. Decoded as hostile input: every string and count is bounded.
struct SnapshotConfig: Equatable, StateCodable {
    static let version: UInt8 = 1
    static let maxPath = 4096
    static let maxDevices = VirtioDevices.irqs.count

    var vcpuCount: Int
    var memoryMiB: Int
    var acpi: Bool
    /// For `GET /vm/config` and logs only: the kernel is in guest memory already.
    var kernelPath: String
    var commandLine: String
    var drives: [DriveConfig]
    var entropy: Bool
    var entropyRateLimiter: RateLimiterConfig
    var networkInterfaces: [NetConfig]
    var vsock: VsockConfig?

    init(_ config: VMConfig) {
        vcpuCount = config.vcpuCount
        memoryMiB = config.memoryMiB
        acpi = config.acpi
        kernelPath = config.kernelPath
        commandLine = config.commandLine
        drives = config.drives
        entropy = config.entropy
        entropyRateLimiter = config.entropyRateLimiter
        networkInterfaces = config.networkInterfaces
        vsock = config.vsock
    }

    /// A `VMConfig` for the restoring process: the saved machine with the request's overrides
    /// (TAP names, vsock socket path) and the process's own console and seccomp settings.
    func vmConfig(_ request: SnapshotLoadRequest, seccomp: Bool) throws(VMMError) -> VMConfig {
        var config = VMConfig(kernelPath: kernelPath, commandLine: commandLine, vcpuCount: vcpuCount, memoryMiB: memoryMiB,
                              drives: drives, entropy: entropy, networkInterfaces: networkInterfaces, acpi: acpi,
                              seccomp: seccomp, vsock: vsock)
        config.entropyRateLimiter = entropyRateLimiter
        let known = Set(networkInterfaces.map(\.id))
        for (id, tap) in request.networkOverrides {
            guard known.contains(id) else {
                throw .invalidConfiguration("network_overrides: the snapshot has no interface '\(id)' (it has: \(known.sorted().joined(separator: ", ")))")
            }
            for index in config.networkInterfaces.indices where config.networkInterfaces[index].id == id {
                config.networkInterfaces[index].tapName = tap
            }
        }
        if let path = request.vsockPathOverride {
            guard config.vsock != nil else { throw .invalidConfiguration("vsock_override: the snapshot has no vsock device") }
            config.vsock?.udsPath = path
        }
        return config
    }

    func encode(to writer: inout StateWriter) {
        writer.write(Self.version)
        writer.write(UInt32(vcpuCount))
        writer.write(UInt64(memoryMiB))
        writer.write(acpi)
        writer.write(kernelPath)
        writer.write(commandLine)
        writer.writeCount(drives.count)
        for drive in drives {
            writer.writeOptional(drive.id) { $0.write($1) }
            writer.write(drive.path)
            writer.write(drive.readOnly)
            writer.write(drive.ioEngine.rawValue)
            drive.rateLimiter.encode(to: &writer)
        }
        writer.write(entropy)
        entropyRateLimiter.encode(to: &writer)
        writer.writeCount(networkInterfaces.count)
        for interface in networkInterfaces {
            writer.write(interface.id)
            writer.write(interface.tapName)
            writer.writeOptional(interface.mac) { $0.write($1) }
            interface.receiveRateLimiter.encode(to: &writer)
            interface.transmitRateLimiter.encode(to: &writer)
        }
        writer.writeOptional(vsock) { writer, vsock in
            writer.write(vsock.guestCID)
            writer.write(vsock.udsPath)
        }
    }

    init(from reader: inout StateReader) throws(SnapshotStateError) {
        let version = try reader.read(UInt8.self, "config version")
        guard version == Self.version else { throw .unsupportedVersion(field: "machine configuration", version: UInt64(version)) }
        let vcpus = try reader.read(UInt32.self, "vcpu count")
        guard (1...254).contains(vcpus) else { throw .invalidValue(field: "vcpu count", value: UInt64(vcpus)) }
        vcpuCount = Int(vcpus)
        let memory = try reader.read(UInt64.self, "memory MiB")
        guard memory >= UInt64(VMConfig.minimumMemoryMiB), memory <= 1 << 26 else { throw .invalidValue(field: "memory MiB", value: memory) }
        memoryMiB = Int(memory)
        acpi = try reader.readBool("acpi")
        kernelPath = try reader.readString("kernel path", limit: Self.maxPath)
        commandLine = try reader.readString("command line", limit: Self.maxPath)
        drives = []
        for _ in 0..<(try reader.readCount("drives", limit: Self.maxDevices)) {
            let id = try reader.readOptional("drive id") { (reader: inout StateReader) throws(SnapshotStateError) in
                try reader.readString("drive id", limit: 64)
            }
            let path = try reader.readString("drive path", limit: Self.maxPath)
            let readOnly = try reader.readBool("drive read-only")
            let engineName = try reader.readString("drive io engine", limit: 16)
            guard let engine = BlockIOEngine(rawValue: engineName) else { throw .invalidValue(field: "drive io engine", value: 0) }
            let limiter = try RateLimiterConfig(from: &reader)
            drives.append(DriveConfig(path: path, readOnly: readOnly, rateLimiter: limiter, ioEngine: engine, id: id))
        }
        entropy = try reader.readBool("entropy")
        entropyRateLimiter = try RateLimiterConfig(from: &reader)
        networkInterfaces = []
        for _ in 0..<(try reader.readCount("network interfaces", limit: Self.maxDevices)) {
            let id = try reader.readString("interface id", limit: 64)
            let tap = try reader.readString("interface TAP", limit: 16)
            let mac = try reader.readOptional("interface MAC") { (reader: inout StateReader) throws(SnapshotStateError) in
                try reader.readString("interface MAC", limit: 17)
            }
            networkInterfaces.append(NetConfig(id: id, tapName: tap, mac: mac,
                                               receiveRateLimiter: try RateLimiterConfig(from: &reader),
                                               transmitRateLimiter: try RateLimiterConfig(from: &reader)))
        }
        vsock = try reader.readOptional("vsock") { (reader: inout StateReader) throws(SnapshotStateError) in
            VsockConfig(guestCID: try reader.read(UInt64.self, "vsock CID"),
                        udsPath: try reader.readString("vsock path", limit: VsockConfig.maxPathLength))
        }
        guard drives.count + (entropy ? 1 : 0) + networkInterfaces.count + (vsock == nil ? 0 : 1) <= Self.maxDevices else {
            throw .tooMany(field: "virtio devices", count: UInt64(drives.count + networkInterfaces.count + 2), limit: UInt64(Self.maxDevices))
        }
    }
}
