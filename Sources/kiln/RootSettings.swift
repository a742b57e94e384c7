import API
import CHost
import ArgumentParser
import KilnCommandLine
import VMM
#if canImport(Glibc)
import Glibc
#endif

/// The root command's options (`kiln --api-sock`, `--config-file`, `--restore`) as plain values:
/// what `Kiln` (ArgumentParser) parsed, or what `QuickCommandLine` read on the start-up fast path.
struct RootSettings {
    static let defaultID = "anonymous-instance"

    var apiSock: String?
    var configFile: String?
    var noAPI = false
    var restore: String?
    var restoreMemory: String?
    var resume = false
    var restoreVsock: String?
    var exitWithParent: Int32?
    var id = defaultID
    var noSeccompFilters = false

    /// nil when nothing says what to start (ArgumentParser then prints the help).
    init?(_ line: QuickCommandLine) {
        apiSock = line.value("--api-sock")
        configFile = line.value("--config-file")
        restore = line.value("--restore")
        guard apiSock != nil || configFile != nil || restore != nil else { return nil }
        noAPI = line.flag("--no-api")
        restoreMemory = line.value("--restore-memory")
        resume = line.flag("--resume")
        restoreVsock = line.value("--restore-vsock")
        if let text = line.value("--exit-with-parent") {
            guard let value = Int32(text) else { return nil }
            exitWithParent = value
        }
        if let text = line.value("--id") { id = text }
        noSeccompFilters = line.flag("--no-seccomp")
    }

    init(apiSock: String?, configFile: String?, noAPI: Bool, restore: String?, restoreMemory: String?, resume: Bool,
         restoreVsock: String?, exitWithParent: Int32?, id: String, noSeccompFilters: Bool) {
        self.apiSock = apiSock
        self.configFile = configFile
        self.noAPI = noAPI
        self.restore = restore
        self.restoreMemory = restoreMemory
        self.resume = resume
        self.restoreVsock = restoreVsock
        self.exitWithParent = exitWithParent
        self.id = id
        self.noSeccompFilters = noSeccompFilters
    }

    /// Flags that exclude or need each other: a one-line error, before anything starts (and
    /// before the help that a command line starting nothing gets).
    func checkFlagCombinations() {
        if noAPI && apiSock != nil { fail("--no-api and --api-sock exclude each other") }
        if noAPI && configFile == nil && restore == nil { fail("--no-api needs --config-file or --restore") }
        if restore != nil && configFile != nil { fail("--restore and --config-file exclude each other") }
        if (restore == nil) != (restoreMemory == nil) { fail("--restore and --restore-memory go together") }
        if resume && restore == nil { fail("--resume needs --restore") }
        if restoreVsock != nil && restore == nil { fail("--restore-vsock needs --restore") }
        if restore != nil && apiSock == nil && !resume { fail("--restore without --api-sock needs --resume (nothing could resume the VM)") }
    }

    func run() throws {
        LogSink.bootstrap()
        checkFlagCombinations()
        guard (1...64).contains(id.utf8.count) else { fail("--id must be 1 to 64 characters") }
        // Before any thread or filter: a console reader that went away, or RLIMIT_FSIZE on the
        // console file, must only drop output (as in `kiln boot`).
        ignoreOutputSignals()
        if let exitWithParent, kiln_die_with_parent(exitWithParent) != 0 {
            fail("--exit-with-parent \(exitWithParent): the parent is gone or prctl failed")
        }
        // No shares through the API: a jailed VMM keeps no capability at all.
        do { try ThreadCapabilities.enterProcess(sharesDirectories: false, seccomp: !noSeccompFilters) } catch { fail("\(error)") }

        var resources = VMResources()
        if let configFile {
            do {
                resources = try ConfigFile.load(path: configFile).resources
            } catch {
                fail("\(configFile): \(error)")
            }
        }
        var machine: Machine?
        let seccomp = !noSeccompFilters
        let controller = APIController(resources: resources, instanceID: id, seccomp: seccomp, start: {
            (config: VMConfig) throws(VMMError) -> any RunningVM in
            let built = try Machine.build(config)
            try built.start()
            machine = built
            return built
        }, restore: { (request: SnapshotLoadRequest) throws(VMMError) -> any RunningVM in
            let restored = try Machine.restore(request, seccomp: seccomp)
            try restored.start(paused: !request.resume)
            machine = restored
            return restored
        })

        let channel: RequestChannel?
        if let apiSock {
            do {
                channel = try RequestChannel()
                _ = try APIServer(socketPath: apiSock, channel: channel!, seccomp: !noSeccompFilters)
            } catch {
                fail("\(error)")
            }
        } else {
            channel = nil
        }

        if configFile != nil {
            do {
                try controller.applyObservability()
                try controller.startInstance()
            } catch {
                fail("\(configFile!): \(error)")
            }
        } else if let restore, let restoreMemory {
            let request = SnapshotLoadRequest(snapshotPath: restore, memoryFilePath: restoreMemory, resume: resume,
                                              vsockPathOverride: restoreVsock)
            let response = controller.handle(loadRequest: request)
            if let fault = response { fail("--restore \(restore): \(fault)") }
        } else if let channel {
            while machine == nil { channel.serve(waitingUpTo: -1, controller.handle) }
        }
        guard let machine else { fail("the VM did not start") }

        // Firecracker flushes metrics every 60 s besides FlushMetrics.
        let flushInterval = 60_000
        var sinceFlush = 0
        let outcome = machine.waitUntilStopped { milliseconds in
            if let channel {
                channel.serve(waitingUpTo: Int32(milliseconds), controller.handle)
            } else {
                usleep(UInt32(milliseconds) * 1000)
            }
            sinceFlush += milliseconds
            if sinceFlush >= flushInterval {
                sinceFlush = 0
                controller.flushMetricsIfConfigured()
            }
        }
        controller.flushMetricsIfConfigured()
        // The request that ended the VM (SendCtrlAltDel) gets its answer before kiln exits.
        channel?.waitUntilDelivered(upTo: RequestChannel.deliveryGraceMilliseconds)
        printError("kiln: VM ended: \(outcome)")
        throw ExitCode(outcome.exitCode)
    }
}
