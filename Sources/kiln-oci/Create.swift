import ArgumentParser
import Glibc
import OCIRuntime
import SandboxHost

/// `create`: boots the container's VM, waits for its agent, and leaves a relay process (the
/// pid in --pid-file) waiting for `start`.
struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a container (boot its VM; the process waits for `start`).")

    @ParentCommand var global: KilnOCI

    @Option(name: [.customLong("bundle"), .customShort("b")], help: ArgumentHelp("The bundle directory (default: the current one).", valueName: "dir"))
    var bundle: String?

    @Option(help: ArgumentHelp("Write the container's pid (its relay process) here.", valueName: "file"))
    var pidFile: String?

    @Option(help: ArgumentHelp("Unix socket to send the pty master to (terminal: true).", valueName: "path"))
    var consoleSocket: String?

    @Flag(help: "Accepted for runc compatibility.") var noPivot = false
    @Flag(help: "Accepted for runc compatibility.") var noNewKeyring = false

    @Option(help: ArgumentHelp("Accepted for runc compatibility (file descriptors to pass on).", valueName: "n"))
    var preserveFds: Int = 0

    @Argument(help: ArgumentHelp("The container id.", valueName: "id"))
    var id: String

    func run() throws {
        let bundlePath = try absoluteBundle(bundle)
        let launch = Launch(store: global.store, log: global.runtimeLog, debug: global.debug)
        let pid = try launch.create(id: id, bundle: bundlePath, consoleSocket: consoleSocket)
        if let pidFile { try PidFile.write(pidFile, pid: pid) }
    }
}

/// The bundle as an absolute path (recorded, and reported by `state`).
func absoluteBundle(_ bundle: String?) throws(OCIRuntimeError) -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { throw .system(operation: "getcwd", path: ".", errno: errno) }
    let cwd = String(cString: buffer)
    guard var bundle, !bundle.isEmpty, bundle != "." else { return cwd }
    // "./b" and "b/" name the same bundle as "b": recorded once, as `state` reports it.
    while bundle.hasPrefix("./") { bundle.removeFirst(2) }
    while bundle.count > 1 && bundle.hasSuffix("/") { bundle.removeLast() }
    return bundle.hasPrefix("/") ? bundle : cwd + "/" + bundle
}

/// --pid-file as runc writes it: the number without a newline, through a temporary file and a
/// rename, so the engine never reads half of it.
enum PidFile {
    static func write(_ path: String, pid: pid_t) throws(OCIRuntimeError) {
        let temporary = path + ".kiln-tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .system(operation: "create pid file", path: temporary, errno: errno) }
        let text = Array("\(pid)".utf8)
        let n = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let err = errno
        close(fd)
        guard n == text.count else { unlink(temporary); throw .system(operation: "write pid file", path: temporary, errno: err) }
        guard rename(temporary, path) == 0 else {
            let err = errno
            unlink(temporary)
            throw .system(operation: "rename pid file", path: path, errno: err)
        }
    }
}
