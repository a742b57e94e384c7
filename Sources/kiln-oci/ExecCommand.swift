import ArgumentParser
import Glibc
import OCIRuntime
import SandboxHost

/// `exec`: another process in a container's VM, with its own relay (the pid in --pid-file):
/// detached (what conmon and the shim ask for), or in the foreground, exiting with its status.
struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Run a process in a running container.")

    @ParentCommand var global: KilnOCI

    @Flag(name: [.customLong("detach"), .customShort("d")], help: "Leave the process running; its relay's pid goes to --pid-file.")
    var detach = false

    @Option(help: ArgumentHelp("Write the process's pid (its relay) here.", valueName: "file")) var pidFile: String?

    @Option(name: [.customLong("process"), .customShort("p")], help: ArgumentHelp("The process as OCI JSON (runtime-spec `process`).", valueName: "file"))
    var process: String?

    @Option(help: ArgumentHelp("Unix socket to send the pty master to (with a terminal).", valueName: "path"))
    var consoleSocket: String?

    @Flag(name: [.customLong("tty"), .customShort("t")], help: "Allocate a pty (with --console-socket).") var tty = false

    @Option(help: ArgumentHelp("Working directory (without --process).", valueName: "dir")) var cwd: String?
    @Option(name: [.customLong("env"), .customShort("e")], help: ArgumentHelp("Environment variable (without --process).", valueName: "K=V"))
    var env: [String] = []
    @Option(name: [.customLong("user"), .customShort("u")], help: ArgumentHelp("UID[:GID] (without --process).", valueName: "uid[:gid]"))
    var user: String?

    @Option(help: ArgumentHelp("Accepted for runc compatibility.", valueName: "n")) var preserveFds: Int = 0
    @Option(help: ArgumentHelp("Accepted for runc compatibility.", valueName: "label")) var processLabel: String?
    @Option(help: ArgumentHelp("Accepted for runc compatibility.", valueName: "profile")) var apparmor: String?
    @Flag(help: "Accepted for runc compatibility.") var noNewPrivs = false
    @Option(name: [.customLong("cap"), .customShort("c")], help: ArgumentHelp("Accepted for runc compatibility.", valueName: "cap"))
    var capabilities: [String] = []
    @Option(help: ArgumentHelp("Accepted for runc compatibility.", valueName: "path")) var cgroup: String?

    @Argument(help: ArgumentHelp("The container id.", valueName: "id")) var id: String
    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command (without --process).", valueName: "command"))
    var command: [String] = []

    func run() throws {
        let container = try global.store.load(id)
        guard container.status == .running || container.status == .created else {
            throw OCIRuntimeError.state("cannot exec in a \(container.status.rawValue) container")
        }
        let json = try processJSON()
        let parsed: OCIProcess
        do { parsed = try OCIProcess.parse(json: json) } catch { throw OCIRuntimeError.config(error) }
        if (parsed.terminal || tty) && detach && consoleSocket == nil {
            throw OCIRuntimeError.config(.invalid(field: "process.terminal", problem: "a detached exec with a terminal needs --console-socket"))
        }
        for setting in parsed.unappliedSettings { global.runtimeLog.write(level: "warning", "\(id): exec: not applied in the VM: \(setting)") }
        // The relay reads its process from the state directory (the engine may remove its file
        // as soon as a detached exec returns).
        let file = container.directory.file("process.\(getpid()).json")
        if let err = FileText.write(file, json) { throw OCIRuntimeError.system(operation: "write", path: file, errno: err) }
        let relay = RelayRun(store: global.store, log: global.runtimeLog, id: id)
        if detach || consoleSocket != nil {
            let pid: pid_t
            do {
                pid = try RelaySpawn.start(store: global.store, id: id, log: global.runtimeLog, process: file,
                                           terminal: (parsed.terminal || tty) ? consoleSocket : nil)
            } catch {
                unlink(file)
                throw error
            }
            if let pidFile { try PidFile.write(pidFile, pid: pid) }
            guard !detach else { return }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            throw ExitCode((status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F))
        }
        if let pidFile { try PidFile.write(pidFile, pid: getpid()) }
        throw ExitCode(relay.run(processFile: file))
    }

    /// --process's text, or a process object made from the command-line form.
    private func processJSON() throws(OCIRuntimeError) -> String {
        if let process {
            guard command.isEmpty else { throw .failed("exec: give either --process or a command, not both") }
            guard let text = FileText.read(process, limit: (1 << 20) + 1) else { throw .system(operation: "read", path: process, errno: errno) }
            guard text.utf8.count <= 1 << 20 else { throw .config(.tooLarge(path: process, limit: 1 << 20)) }
            return text
        }
        guard !command.isEmpty else { throw .failed("exec: no command and no --process") }
        var user: (UInt32, UInt32) = (0, 0)
        if let spec = self.user {
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map { UInt32($0) }
            guard (1...2).contains(parts.count), let uid = parts[0], let gid = parts.count == 2 ? parts[1] : 0 else {
                throw .failed("exec: --user \(spec): expected UID[:GID]")
            }
            user = (uid, gid)
        }
        let document = JSONOutput.object([
            ("terminal", .bool(tty)),
            ("user", .object([("uid", .int(Int64(user.0))), ("gid", .int(Int64(user.1)))])),
            ("args", .array(command.map(JSONOutput.string))),
            ("env", .array(env.map(JSONOutput.string))),
            ("cwd", .string(cwd ?? "/")),
        ])
        return document.serialized()
    }
}
