import API
import ArgumentParser
import CHost
import CKiln
import SandboxHost
import VMM
#if canImport(Glibc)
import Glibc
#endif

@main
struct Kiln: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "A microVM monitor and sandbox for Linux/KVM.",
        discussion: """
            `kiln --api-sock PATH` serves Firecracker's HTTP API on a Unix socket: configure the VM \
            with PUT requests, then PUT /actions {"action_type": "InstanceStart"}. \
            `kiln --config-file PATH` starts the VM a Firecracker configuration file describes at \
            once (and still serves the API if --api-sock is given; --no-api: no API at all). \
            `kiln --restore STATE --restore-memory MEM` resumes a snapshot (PUT /snapshot/create) \
            in this process instead of booting. `kiln boot` takes the same settings as flags. kiln \
            exits when the guest does.
            """,
        version: KilnVersion.string,
        subcommands: [Boot.self, Run.self, Create.self, Exec.self, Cp.self, Ls.self, Rm.self, Gc.self, AgentExec.self,
                      Pull.self, ImagesCommand.self, Rmi.self, ImageCommand.self, Setup.self, SnapshotCommand.self, SnapshotMergeCommand.self])

    @Option(help: ArgumentHelp("Serve the API on this Unix socket path (must not exist).", valueName: "path"))
    var apiSock: String?

    @Option(help: ArgumentHelp("Start the VM described by this Firecracker-format JSON file.", valueName: "path"))
    var configFile: String?

    @Flag(help: "Run without the API server (only with --config-file or --restore).")
    var noAPI = false

    @Option(help: ArgumentHelp("Restore the VM from this snapshot state file (PUT /snapshot/create wrote it) instead of booting; needs --restore-memory.", valueName: "path"))
    var restore: String?

    @Option(help: ArgumentHelp("The snapshot's memory file, mapped copy-on-write (clones of one file share its pages).", valueName: "path"))
    var restoreMemory: String?

    @Flag(help: "Resume the restored VM at once (without it the VM waits, paused, for PATCH /vm {\"state\": \"Resumed\"}).")
    var resume = false

    @Option(help: ArgumentHelp("With --restore: the vsock device's Unix socket path instead of the snapshot's (snapshot/load's vsock_override).", valueName: "path"))
    var restoreVsock: String?

    /// `kiln run --from` under kiln-jailer: as `kiln boot --die-with-parent` (a name of its own:
    /// a flag declared at both levels would go to this command).
    @Option(help: .hidden)
    var exitWithParent: Int32?

    @Option(help: ArgumentHelp("Instance id reported by GET /.", valueName: "id"))
    var id: String = "anonymous-instance"

    @Flag(name: .customLong("no-seccomp"), help: "Do not confine kiln's threads with seccomp filters (debugging only).")
    var noSeccompFilters = false

    /// ArgumentParser's main, plus the exit status of failures: 125 for a sandbox command (its
    /// usage errors too: 64 could be the command's own status), 1 otherwise; a SandboxHost
    /// error becomes one line.
    static func main() {
        // One malloc arena for every thread. A thread's own arena is an mmapped heap, and when
        // glibc first shrinks one it opens /proc/sys/vm/overcommit_memory: under a seccomp
        // filter without openat (the API, vCPU and device threads) that kills the VMM (seen on
        // the API thread of a debug build). The main arena shrinks with brk and opens nothing;
        // no hot path allocates, so sharing its lock costs nothing that matters.
        _ = kiln_single_malloc_arena()
        let arguments = CommandLine.arguments.dropFirst()
        if FailureExit.namesSandboxCommand(arguments) { FailureExit.status = FailureExit.sandboxStatus }
        do {
            var command = try parseAsRoot(Array(arguments))
            FailureExit.status = command is any SandboxCommand ? FailureExit.sandboxStatus : 1
            try command.run()
        } catch let error as SandboxHostError {
            fail("\(error)")
        } catch {
            if FailureExit.status == FailureExit.sandboxStatus, !(error is ExitCode), exitCode(for: error) != .success {
                printError(fullMessage(for: error))
                Glibc.exit(FailureExit.status)
            }
            exit(withError: error)
        }
    }

    func run() throws {
        LogSink.bootstrap()
        if noAPI && apiSock != nil { fail("--no-api and --api-sock exclude each other") }
        if noAPI && configFile == nil && restore == nil { fail("--no-api needs --config-file or --restore") }
        if restore != nil && configFile != nil { fail("--restore and --config-file exclude each other") }
        if (restore == nil) != (restoreMemory == nil) { fail("--restore and --restore-memory go together") }
        if resume && restore == nil { fail("--resume needs --restore") }
        if restoreVsock != nil && restore == nil { fail("--restore-vsock needs --restore") }
        if restore != nil && apiSock == nil && !resume { fail("--restore without --api-sock needs --resume (nothing could resume the VM)") }
        guard configFile != nil || apiSock != nil || restore != nil else { throw CleanExit.helpRequest(self) }
        guard (1...64).contains(id.utf8.count) else { fail("--id must be 1 to 64 characters") }
        // Before any thread or filter: a console reader that went away, or RLIMIT_FSIZE on the
        // console file, must only drop output (as in `kiln boot`).
        ignoreOutputSignals()
        if let exitWithParent, kiln_die_with_parent(exitWithParent) != 0 {
            fail("--exit-with-parent \(exitWithParent): the parent is gone or prctl failed")
        }

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
        printError("kiln: VM ended: \(outcome)")
        throw ExitCode(outcome.exitCode)
    }
}
