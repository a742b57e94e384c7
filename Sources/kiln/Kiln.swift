import API
import ArgumentParser
import CHost
import CKiln
import KilnCommandLine
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
    var id: String = RootSettings.defaultID

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
        // What ArgumentParser would print, without building its command tree (~1.2 ms here):
        // `kiln --version` is what supervisors and benchmarks run to time a bare start.
        if arguments.count == 1 && arguments.first == "--version" {
            print(KilnVersion.string)
            Glibc.exit(0)
        }
        runIfPlain(arguments)
        startVMMIfPlain(arguments)
        if FailureExit.namesSandboxCommand(arguments) { FailureExit.status = FailureExit.sandboxStatus }
        do {
            var command = try parseAsRoot(Array(arguments))
            FailureExit.status = command is any SandboxCommand ? FailureExit.sandboxStatus : 1
            try command.run()
        } catch {
            exitAfter(error)
        }
    }

    /// Ends the process for a command's error: a sandbox error as one line, a command's own
    /// status at once (every `kiln run` ends with one: exit(withError:) would first build the
    /// root command's usage text, which it then does not print for an ExitCode), a sandbox
    /// command's failure with kiln's own status, anything else as ArgumentParser reports it.
    static func exitAfter(_ error: any Error) -> Never {
        if let error = error as? SandboxHostError { fail("\(error)") }
        if let code = error as? ExitCode { Glibc.exit(code.rawValue) }
        if FailureExit.status == FailureExit.sandboxStatus, exitCode(for: error) != .success {
            printError(fullMessage(for: error))
            Glibc.exit(FailureExit.status)
        }
        exit(withError: error)
    }

    /// The command lines that start a VMM (`kiln boot ...`, `kiln --api-sock ...`), when written
    /// plainly, run without ArgumentParser, whose parse alone took longer than the rest of the
    /// way to the guest's first instruction (README, "Start-up"). Returns only when the command
    /// line is not such a plain one; ArgumentParser then parses it (or explains what is wrong).
    static func startVMMIfPlain(_ arguments: ArraySlice<String>) {
        let startVMM: (() throws -> Void)?
        if arguments.first == "boot" {
            startVMM = QuickCommandLine(arguments.dropFirst(), options: VMMCommandLine.boot)
                .flatMap(BootSettings.init).map { boot in { try boot.run() } }
        } else if arguments.first?.hasPrefix("--") == true {
            startVMM = QuickCommandLine(arguments, options: VMMCommandLine.root)
                .flatMap(RootSettings.init).map { root in { try root.run() } }
        } else {
            startVMM = nil   // a subcommand: the root's options come first or not at all
        }
        guard let run = startVMM else { return }
        FailureExit.status = 1
        do {
            try run()
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            exit(withError: error)
        }
        Glibc.exit(0)
    }

    /// `kiln run ...` written plainly runs without ArgumentParser too (RunFastPath); anything
    /// else (help, `-v`, `--name=value`, a value that is not a number...) returns, and
    /// ArgumentParser parses it or says what is wrong.
    static func runIfPlain(_ arguments: ArraySlice<String>) {
        guard arguments.first == "run", let run = RunFastPath.run(arguments.dropFirst()) else { return }
        FailureExit.status = FailureExit.sandboxStatus
        do {
            try run.run()
        } catch {
            exitAfter(error)
        }
        Glibc.exit(0)
    }

    func run() throws {
        let settings = RootSettings(apiSock: apiSock, configFile: configFile, noAPI: noAPI, restore: restore,
                                    restoreMemory: restoreMemory, resume: resume, restoreVsock: restoreVsock,
                                    exitWithParent: exitWithParent, id: id, noSeccompFilters: noSeccompFilters)
        settings.checkFlagCombinations()
        guard configFile != nil || apiSock != nil || restore != nil else { throw CleanExit.helpRequest(self) }
        try settings.run()
    }
}
