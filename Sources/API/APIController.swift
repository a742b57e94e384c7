#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Devices
import Logging
import VMM

/// A request as the HTTP layer hands it over: method, path without the query, body bytes.
public struct APIRequest: Sendable {
    public var method: String
    public var path: String
    public var body: [UInt8]

    public init(method: String, path: String, body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.body = body
    }
}

/// Status and JSON body; errors carry Firecracker's `{"fault_message": ...}`.
public struct APIResponse: Sendable, Equatable {
    public var status: Int
    public var body: JSONValue?

    public static let noContent = APIResponse(status: 204, body: nil)
    public static func ok(_ body: JSONValue) -> APIResponse { APIResponse(status: 200, body: body) }
    public static func badRequest(_ message: String) -> APIResponse {
        APIResponse(status: 400, body: .object([("fault_message", .string(message))]))
    }
}

/// What the API does to a running VM; `Machine` in production, a recorder in tests.
public protocol RunningVM: AnyObject {
    var isPaused: Bool { get }
    func pause() throws(VMMError)
    func resume()
    func sendCtrlAltDel() throws(VMMError)
    var metrics: MachineMetrics { get }
    /// Drive `id` gets a new backing file and/or rate limiter, or nothing changes.
    func updateDrive(id: String, pathOnHost: String?, rateLimiter: RateLimiterConfig?) throws(VMMError)
    /// Interface `id` gets new receive and/or transmit rate limiters.
    func updateNetworkInterface(id: String, receive: RateLimiterConfig?, transmit: RateLimiterConfig?)
    /// Writes the paused VM's state and memory; the VM is unchanged and can resume after.
    func createSnapshot(_ request: SnapshotCreateRequest) throws(VMMError)
}

extension Machine: RunningVM {}

/// Firecracker's API semantics on the VMM thread: which requests are valid before and after
/// InstanceStart, applying each one whole or not at all, and the instance's state.
public final class APIController {
    public typealias Starter = (VMConfig) throws(VMMError) -> any RunningVM
    /// Builds a VM from a snapshot (`PUT /snapshot/load`); it comes back paused unless the
    /// request resumes it.
    public typealias Restorer = (SnapshotLoadRequest) throws(VMMError) -> any RunningVM

    public private(set) var resources: VMResources
    public private(set) var vm: (any RunningVM)?
    let instanceID: String
    let seccomp: Bool
    private let start: Starter
    private let restore: Restorer?
    let metricsSink = MetricsSink()
    private let logger = Logger(label: "kiln.api")

    public init(resources: VMResources = VMResources(), instanceID: String = "anonymous-instance",
                seccomp: Bool = true, start: @escaping Starter, restore: Restorer? = nil) {
        self.resources = resources
        self.instanceID = instanceID
        self.seccomp = seccomp
        self.start = start
        self.restore = restore
    }

    /// The API of a VM that is already running (`kiln boot --control-sock`): pause, resume,
    /// snapshot/create and SendCtrlAltDel; InstanceStart and snapshot/load are refused, and
    /// GET /vm/config shows nothing (the VM was configured by flags, not by the API).
    public convenience init(running vm: any RunningVM, instanceID: String, seccomp: Bool) {
        self.init(resources: VMResources(), instanceID: instanceID, seccomp: seccomp, start: { _ throws(VMMError) in
            throw VMMError.invalidConfiguration("the VM is already running")
        })
        self.vm = vm
    }

    public var state: String {
        guard let vm else { return "Not started" }
        return vm.isPaused ? "Paused" : "Running"
    }

    public func handle(_ request: APIRequest) -> APIResponse {
        let response: APIResponse
        do {
            response = try route(request)
        } catch {
            response = .badRequest(error.description)
        }
        metricsSink.count(method: request.method, status: response.status)
        if response.status >= 400 {
            logger.warning("\(request.method) \(request.path): \(response.status) \(Self.faultMessage(response) ?? "")")
        } else {
            logger.debug("\(request.method) \(request.path): \(response.status)")
        }
        return response
    }

    static func faultMessage(_ response: APIResponse) -> String? {
        guard case let .object(members)? = response.body else { return nil }
        for (key, value) in members where key == "fault_message" {
            if case let .string(text) = value { return text }
        }
        return nil
    }

    /// Starts the VM from the resources at once (a config file without the API's InstanceStart).
    public func startInstance() throws(ConfigurationError) {
        try instanceStart()
    }

    /// Opens the logger and metrics a config file names (the API opens them on PUT).
    public func applyObservability() throws(ConfigurationError) {
        if let logger = resources.logger { try LogSink.shared.configure(logger) }
        if let metrics = resources.metrics { try metricsSink.open(metrics.metricsPath) }
    }

    /// Writes a metrics line if metrics are configured (periodic flush).
    public func flushMetricsIfConfigured() {
        guard resources.metrics != nil else { return }
        _ = try? metricsSink.flush(vm: vm)
    }

    // MARK: - Routing

    private func route(_ request: APIRequest) throws(ConfigurationError) -> APIResponse {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch (request.method, parts.first ?? "", parts.count) {
        case ("GET", "", 0):
            return .ok(.object([("app_name", .string("kiln")), ("id", .string(instanceID)),
                                ("state", .string(state)), ("vmm_version", .string(KilnVersion.string))]))
        case ("GET", "version", 1):
            return .ok(.object([("firecracker_version", .string(KilnVersion.string))]))
        case ("GET", "machine-config", 1):
            return .ok(resources.machineConfig.json)
        case ("PUT", "machine-config", 1):
            try requireNotStarted("machine-config")
            resources.machineConfig = try decode(MachineConfiguration.self, request.body)
            return .noContent
        case ("PATCH", "machine-config", 1):
            try requireNotStarted("machine-config")
            resources.machineConfig = try decode(MachineConfigurationPatch.self, request.body,
                                                 userInfo: [.machineConfigBase: resources.machineConfig]).result
            return .noContent
        case ("PUT", "boot-source", 1):
            try requireNotStarted("boot-source")
            let source = try decode(BootSource.self, request.body)
            try requireFile(source.kernelImagePath, role: "kernel")
            if let initrd = source.initrdPath { try requireFile(initrd, role: "initrd") }
            resources.bootSource = source
            return .noContent
        case ("PUT", "drives", 2):
            try requireNotStarted("drives")
            let drive = try decode(Drive.self, request.body)
            try requireSameID(path: parts[1], body: drive.driveID, field: "drive_id")
            try requireFile(drive.pathOnHost, role: "drive")
            try resources.put(drive)
            return .noContent
        case ("PATCH", "drives", 2):
            try Identifier.check(parts[1], what: "drive_id")
            guard resources.drives.contains(where: { $0.driveID == parts[1] }) else {
                throw ConfigurationError("no drive with drive_id '\(parts[1])'")
            }
            guard let vm else { throw ConfigurationError("PATCH /drives is valid only after InstanceStart; use PUT before") }
            let update = try decode(PartialDrive.self, request.body)
            try requireSameID(path: parts[1], body: update.driveID, field: "drive_id")
            // No stat here: the VMM thread is confined by now; the machine opens and checks the file.
            do {
                try vm.updateDrive(id: update.driveID, pathOnHost: update.pathOnHost, rateLimiter: update.rateLimiter)
            } catch { throw ConfigurationError("drive \(update.driveID): \(error)") }
            resources.apply(update)
            logger.info("drive \(update.driveID) updated")
            return .noContent
        case ("PUT", "network-interfaces", 2):
            try requireNotStarted("network-interfaces")
            let interface = try decode(NetworkInterface.self, request.body)
            try requireSameID(path: parts[1], body: interface.ifaceID, field: "iface_id")
            try resources.put(interface)
            return .noContent
        case ("PATCH", "network-interfaces", 2):
            try Identifier.check(parts[1], what: "iface_id")
            guard resources.networkInterfaces.contains(where: { $0.ifaceID == parts[1] }) else {
                throw ConfigurationError("no network interface with iface_id '\(parts[1])'")
            }
            guard let vm else { throw ConfigurationError("PATCH /network-interfaces is valid only after InstanceStart") }
            let update = try decode(PartialNetworkInterface.self, request.body)
            try requireSameID(path: parts[1], body: update.ifaceID, field: "iface_id")
            vm.updateNetworkInterface(id: update.ifaceID, receive: update.rxRateLimiter, transmit: update.txRateLimiter)
            resources.apply(update)
            logger.info("network interface \(update.ifaceID) updated")
            return .noContent
        case ("PUT", "vsock", 1):
            try requireNotStarted("vsock")
            resources.vsock = try decode(Vsock.self, request.body)
            return .noContent
        case ("PUT", "entropy", 1):
            try requireNotStarted("entropy")
            resources.entropy = try decode(EntropyDevice.self, request.body)
            return .noContent
        case ("PUT", "logger", 1):
            try requireNotStarted("logger")
            let config = try decode(LoggerConfig.self, request.body)
            try LogSink.shared.configure(config)
            resources.logger = config
            return .noContent
        case ("PUT", "metrics", 1):
            try requireNotStarted("metrics")
            guard resources.metrics == nil else { throw ConfigurationError("metrics are already configured") }
            let config = try decode(MetricsConfig.self, request.body)
            try metricsSink.open(config.metricsPath)
            resources.metrics = config
            return .noContent
        case ("PUT", "actions", 1):
            return try action(decode(InstanceActionInfo.self, request.body).action)
        case ("GET", "vm", 2) where parts[1] == "config":
            return .ok(resources.json)
        case ("PATCH", "vm", 1):
            let change = try decode(VmStateRequest.self, request.body)
            guard let vm else { throw ConfigurationError("the VM is not running: InstanceStart first") }
            if change.pause {
                do { try vm.pause() } catch { throw ConfigurationError("pause failed: \(error)") }
                logger.info("VM paused")
            } else {
                vm.resume()
                logger.info("VM resumed")
            }
            return .noContent
        case ("PUT", "snapshot", 2) where parts[1] == "create":
            let request = try decode(SnapshotCreateParams.self, request.body).request
            guard let vm else { throw ConfigurationError("snapshot/create needs a running VM: InstanceStart first") }
            guard vm.isPaused else { throw ConfigurationError("snapshot/create needs a paused VM: PATCH /vm {\"state\": \"Paused\"} first") }
            do { try vm.createSnapshot(request) } catch { throw ConfigurationError("snapshot/create failed: \(error)") }
            logger.info("snapshot (\(request.kind.rawValue)) written: \(request.snapshotPath), memory \(request.memoryFilePath)")
            return .noContent
        case ("PUT", "snapshot", 2) where parts[1] == "load":
            try load(try decode(SnapshotLoadParams.self, request.body).request)
            return .noContent
        default:
            let known = ["", "version", "machine-config", "boot-source", "drives", "network-interfaces", "vsock",
                         "entropy", "logger", "metrics", "actions", "vm", "snapshot"]
            if known.contains(parts.first ?? "") {
                throw ConfigurationError("\(request.method) \(request.path) is not a valid request (wrong method or path)")
            }
            throw ConfigurationError("no such endpoint: \(request.method) \(request.path)")
        }
    }

    private func action(_ action: InstanceActionInfo.Action) throws(ConfigurationError) -> APIResponse {
        switch action {
        case .instanceStart:
            try instanceStart()
        case .sendCtrlAltDel:
            guard let vm else { throw ConfigurationError("SendCtrlAltDel needs a running VM: InstanceStart first") }
            do { try vm.sendCtrlAltDel() } catch { throw ConfigurationError("SendCtrlAltDel failed: \(error)") }
        case .flushMetrics:
            guard resources.metrics != nil else { throw ConfigurationError("metrics are not configured: PUT /metrics first") }
            do { try metricsSink.flush(vm: vm) } catch { throw ConfigurationError("FlushMetrics failed: \(error)") }
        }
        return .noContent
    }

    /// `PUT /snapshot/load`, or kiln's `--restore`: nil, or the fault message of a refusal.
    public func handle(loadRequest request: SnapshotLoadRequest) -> String? {
        do {
            try load(request)
            return nil
        } catch { return error.description }
    }

    private func load(_ request: SnapshotLoadRequest) throws(ConfigurationError) {
        guard vm == nil else { throw ConfigurationError("snapshot/load is valid only on a fresh kiln: the VM is already running") }
        guard resources.bootSource == nil && resources.drives.isEmpty && resources.networkInterfaces.isEmpty
                && resources.vsock == nil && resources.entropy == nil else {
            throw ConfigurationError("snapshot/load is valid only before the VM is configured (the snapshot brings its own configuration)")
        }
        guard let restore else { throw ConfigurationError("snapshot/load is not available in this kiln") }
        do { vm = try restore(request) } catch { throw ConfigurationError("snapshot/load failed: \(error)") }
        logger.info("VM restored from \(request.snapshotPath)\(request.resume ? " and resumed" : " (paused)")")
    }

    private func instanceStart() throws(ConfigurationError) {
        guard vm == nil else { throw ConfigurationError("InstanceStart: the VM is already running") }
        let config = try resources.vmConfig(seccomp: seccomp)
        do {
            vm = try start(config)
        } catch {
            throw ConfigurationError("InstanceStart failed: \(error)")
        }
        logger.info("VM started: \(config.vcpuCount) vCPU, \(config.memoryMiB) MiB, kernel \(config.kernelPath)")
    }

    private func requireNotStarted(_ what: String) throws(ConfigurationError) {
        guard vm == nil else { throw ConfigurationError("\(what) cannot be changed after InstanceStart") }
    }

    /// As Firecracker, files are checked when they are configured, so a typo fails the PUT
    /// that made it rather than the later InstanceStart (which checks again).
    private func requireFile(_ path: String, role: String) throws(ConfigurationError) {
        do { try VMConfig.requireReadableFile(path, role: role) } catch { throw ConfigurationError("\(error)") }
    }

    private func requireSameID(path: String, body: String, field: String) throws(ConfigurationError) {
        guard path == body else { throw ConfigurationError("\(field) '\(body)' in the body differs from '\(path)' in the path") }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8],
                                      userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws(ConfigurationError) -> T {
        guard !body.isEmpty else { throw ConfigurationError("the request needs a JSON body") }
        let decoder = JSONDecoder()
        decoder.userInfo = userInfo
        do {
            return try decoder.decode(T.self, from: Data(body))
        } catch let error as ConfigurationError {
            throw error
        } catch let error as DecodingError {
            throw ConfigurationError(ConfigFile.describe(error, body: Data(body)))
        } catch {
            throw ConfigurationError("invalid JSON body: \(error)")
        }
    }
}
