import AgentProtocol
import ArgumentParser
import CHost
import Glibc
import OCIRuntime
import Sandbox
import SandboxHost

/// `relay` (internal): the container's process on the host. It holds the container's stdio,
/// waits for `start` (the init relay: exec.fifo), runs the process through the agent, forwards
/// every signal it receives to it, and exits with its status (128+N for signal N; 127/126 when
/// it cannot start). Its own failures exit 125 with one line on stderr and in --log.
struct Relay: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Internal: the container's process on the host.",
                                                    shouldDisplay: false)

    @ParentCommand var global: KilnOCI

    @Option var id: String

    @Option(help: ArgumentHelp("An exec's process.json in the state directory (removed once read).", valueName: "file"))
    var process: String?

    static let failureStatus: Int32 = 125

    func run() throws {
        let status = RelayRun(store: global.store, log: global.runtimeLog, id: id, debug: global.debug).run(processFile: process)
        throw ExitCode(status)
    }
}

/// The relay's work, also done in-process by a foreground `exec`.
struct RelayRun {
    let store: ContainerStore
    let log: RuntimeLog
    let id: String
    /// --debug: each agent session's start and end goes to the log (timestamped records).
    var debug = false

    func fail(_ text: String) -> Int32 {
        log.write(level: "error", "\(id): \(text)")
        var line = "kiln-oci: error: \(text)\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        return Relay.failureStatus
    }

    /// `processFile` nil: the container's init process (config.json, waits for `start`).
    func run(processFile: String?) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
        let directory = store.directory(id)
        var job: SandboxJob
        var identityFile: String?
        do {
            if let processFile {
                let process = try OCIProcess.load(path: processFile)
                unlink(processFile)
                job = SandboxJob(request: process.execRequest(makeCwd: false))
                identityFile = directory.file(ContainerStore.execPrefix + "\(getpid())")
                if let identity = ProcessIdentity.of(getpid()) { _ = FileText.write(identityFile!, identity.text) }
            } else {
                let config = try OCIConfig.load(path: directory.file("config.json"))
                job = SandboxJob(request: config.process.execRequest(makeCwd: true))
                job.copyIn = try HostBinds.classify(config).files
                try waitForStart(fifo: directory.file(ContainerStore.fifoName))
                if debug { log.write(level: "debug", "\(id): relay: started") }
            }
        } catch let error as OCIConfigError {
            return fail(error.description)
        } catch {
            return fail("\(error)")
        }
        defer { if let identityFile { unlink(identityFile) } }
        if debug {
            let log = self.log, id = self.id
            job.onSession = { session, ended in log.write(level: "debug", "\(id): relay: \(session) \(ended ? "ended" : "begins")") }
        }
        var forward: [Int32] = [-1, -1]
        guard kiln_host_pipe(&forward) == 0 else { return fail("pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(forward[1], F_SETFL, O_NONBLOCK)
        // Only now: before `start`, signals keep their default action, so `kill` of a created
        // container ends the relay as it would end runc's waiting init.
        _ = kiln_oci_forward_signals(forward[1])
        let endpoint = AgentEndpoint.hybridVsock(udsPath: directory.file(RunDirectory.socketName))
        do {
            return try job.run(endpoint: endpoint, signals: forward[0], limits: SessionLimits()).shellCode
        } catch {
            if case .agent(let code, let message) = error, message.hasPrefix("cannot run ") {
                log.write(level: "error", "\(id): \(message)")
                var line = "kiln-oci: \(message)\n"
                line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
                return code == UInt32(ENOENT) ? 127 : 126
            }
            return fail("\(error)")
        }
    }

    /// Blocks until `start` opens the FIFO for reading (runc's exec.fifo), then tells it so.
    private func waitForStart(fifo: String) throws(OCIRuntimeError) {
        var fd: Int32
        repeat { fd = open(fifo, O_WRONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw .system(operation: "open", path: fifo, errno: errno) }
        defer { close(fd) }
        var byte: UInt8 = 0x30
        guard write(fd, &byte, 1) == 1 else { throw .system(operation: "write", path: fifo, errno: errno) }
    }
}
