import VMM

/// Everything configured for the VM before it starts, by API calls or a config file. Each
/// request is applied whole or not at all: callers decode and validate first, then store.
public struct VMResources: Sendable {
    public var bootSource: BootSource?
    public var machineConfig: MachineConfiguration = .default
    /// In the order they were first configured; replacing one keeps its place.
    public private(set) var drives: [Drive] = []
    public private(set) var networkInterfaces: [NetworkInterface] = []
    public var vsock: Vsock?
    /// `PUT /entropy` or the config file's `entropy`: the device and its rate limiter.
    public var entropy: EntropyDevice?
    public var logger: LoggerConfig?
    public var metrics: MetricsConfig?

    public init() {}

    /// `PUT /drives/{id}`: adds or replaces; at most one root device.
    public mutating func put(_ drive: Drive) throws(ConfigurationError) {
        if drive.isRootDevice, let root = drives.first(where: \.isRootDevice), root.driveID != drive.driveID {
            throw ConfigurationError("drive '\(root.driveID)' is already the root device")
        }
        if let index = drives.firstIndex(where: { $0.driveID == drive.driveID }) {
            drives[index] = drive
        } else {
            guard drives.count + networkInterfaces.count < VMResources.maxVirtioDevices else {
                throw ConfigurationError("too many devices: at most \(VMResources.maxVirtioDevices) virtio devices")
            }
            drives.append(drive)
        }
    }

    /// `PUT /network-interfaces/{id}`: adds or replaces; TAP names and MACs must be unique.
    public mutating func put(_ interface: NetworkInterface) throws(ConfigurationError) {
        for other in networkInterfaces where other.ifaceID != interface.ifaceID {
            if other.hostDevName == interface.hostDevName {
                throw ConfigurationError("host_dev_name '\(interface.hostDevName)' is already used by '\(other.ifaceID)'")
            }
            if let mac = interface.guestMAC, other.guestMAC?.lowercased() == mac.lowercased() {
                throw ConfigurationError("guest_mac '\(mac)' is already used by '\(other.ifaceID)'")
            }
        }
        if let index = networkInterfaces.firstIndex(where: { $0.ifaceID == interface.ifaceID }) {
            networkInterfaces[index] = interface
        } else {
            guard drives.count + networkInterfaces.count < VMResources.maxVirtioDevices else {
                throw ConfigurationError("too many devices: at most \(VMResources.maxVirtioDevices) virtio devices")
            }
            networkInterfaces.append(interface)
        }
    }

    /// Where drive `id` sits among the VM's drives (the root drive first, as `vmConfig` orders
    /// them): the index the running machine knows it by.
    /// The drives as the VM gets them: the root drive first (/dev/vda), the rest in order.
    var busOrderedDrives: [Drive] { drives.filter(\.isRootDevice) + drives.filter { !$0.isRootDevice } }

    /// Records an update the running VM has applied (`PATCH /drives`).
    mutating func apply(_ update: PartialDrive) {
        guard let index = drives.firstIndex(where: { $0.driveID == update.driveID }) else { return }
        if let path = update.pathOnHost { drives[index].pathOnHost = path }
        if let limiter = update.rateLimiter { drives[index].rateLimiter = limiter }
    }

    /// Records an update the running VM has applied (`PATCH /network-interfaces`).
    mutating func apply(_ update: PartialNetworkInterface) {
        guard let index = networkInterfaces.firstIndex(where: { $0.ifaceID == update.ifaceID }) else { return }
        if let limiter = update.rxRateLimiter { networkInterfaces[index].rxRateLimiter = limiter }
        if let limiter = update.txRateLimiter { networkInterfaces[index].txRateLimiter = limiter }
    }

    /// One IRQ each, with the entropy and vsock devices counted in.
    static let maxVirtioDevices = 8

    /// The VM these resources describe. As in Firecracker, the root drive becomes /dev/vda and
    /// `root=/dev/vda ro|rw` is added to the command line.
    public func vmConfig(seccomp: Bool = true) throws(ConfigurationError) -> VMConfig {
        guard let bootSource else { throw ConfigurationError("no boot source: PUT /boot-source first") }
        var commandLine = bootSource.bootArgs ?? VMConfig.defaultCommandLine
        if let root = drives.first(where: \.isRootDevice) {
            commandLine += " root=/dev/vda " + (root.isReadOnly ? "ro" : "rw")
        }
        var config = VMConfig(
            kernelPath: bootSource.kernelImagePath, initrdPath: bootSource.initrdPath, commandLine: commandLine,
            vcpuCount: machineConfig.vcpuCount, memoryMiB: machineConfig.memSizeMiB,
            drives: busOrderedDrives.map {
                DriveConfig(path: $0.pathOnHost, readOnly: $0.isReadOnly, rateLimiter: $0.rateLimiter ?? .unlimited,
                            ioEngine: $0.ioEngine ?? DriveConfig.defaultIOEngine, id: $0.driveID)
            },
            entropy: entropy != nil,
            networkInterfaces: networkInterfaces.map {
                NetConfig(id: $0.ifaceID, tapName: $0.hostDevName, mac: $0.guestMAC,
                          receiveRateLimiter: $0.rxRateLimiter ?? .unlimited,
                          transmitRateLimiter: $0.txRateLimiter ?? .unlimited)
            },
            seccomp: seccomp, vsock: vsock.map { VsockConfig(guestCID: UInt64($0.guestCID), udsPath: $0.udsPath) })
        config.entropyRateLimiter = entropy?.rateLimiter ?? .unlimited
        config.trackDirtyPages = machineConfig.trackDirtyPages
        return config
    }

    /// `GET /vm/config`: Firecracker's FullVmConfiguration.
    var json: JSONValue {
        var members: [(String, JSONValue)] = []
        if let bootSource { members.append(("boot-source", bootSource.json)) }
        members.append(("machine-config", machineConfig.json))
        members.append(("drives", .array(drives.map(\.json))))
        members.append(("network-interfaces", .array(networkInterfaces.map(\.json))))
        if let vsock { members.append(("vsock", vsock.json)) }
        if let entropy { members.append(("entropy", entropy.json)) }
        if let logger { members.append(("logger", logger.json)) }
        if let metrics { members.append(("metrics", metrics.json)) }
        return .object(members)
    }
}
