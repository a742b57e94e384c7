import CHost
import Glibc
import OCIRuntime
import SandboxHost

/// Starts a relay process (`kiln-oci relay`, this binary again): the container's process as
/// the engine sees it. With a console socket its stdio is a new pty whose master goes to the
/// socket (SCM_RIGHTS, as runc sends it); otherwise it inherits this process's stdio. `record`
/// runs before the relay may exec (SpawnRecord).
enum RelaySpawn {
    static func start(store: ContainerStore, id: String, log: RuntimeLog, debug: Bool = false, process: String?,
                      terminal consoleSocket: String?, record: SpawnRecord? = nil) throws(OCIRuntimeError) -> pid_t {
        let own: String
        do { own = try HostExecutable.path() } catch { throw .host(error) }
        var argv = [own, "--root", store.root]
        if let path = log.path { argv += ["--log", path, "--log-format", log.format.rawValue] + (debug ? ["--debug"] : []) }
        argv += ["relay", "--id", id] + (process.map { ["--process", $0] } ?? [])
        var stdio: (Int32, Int32, Int32) = (0, 1, 2)
        var pty: (master: Int32, slave: Int32)?
        if let consoleSocket {
            var master: Int32 = -1, slave: Int32 = -1
            var name = [CChar](repeating: 0, count: 256)
            guard kiln_oci_open_pty(&master, &slave, &name, name.count) == 0 else {
                throw .system(operation: "open a pty", path: "/dev/ptmx", errno: errno)
            }
            pty = (master, slave)
            guard kiln_oci_send_console(consoleSocket, master, name) == 0 else {
                let err = errno
                close(master); close(slave)
                throw .system(operation: "send the pty to the console socket", path: consoleSocket, errno: err)
            }
            stdio = (slave, slave, slave)
        }
        defer { if let pty { close(pty.master); close(pty.slave) } }
        let cArgv = argv.map { strdup($0) } + [nil]
        defer { cArgv.forEach { free($0) } }
        var pid: pid_t = 0
        let err = SpawnRecord.with(record) { recorder, context in
            cArgv.withUnsafeBufferPointer {
                kiln_oci_spawn_relay($0.baseAddress, stdio.0, stdio.1, stdio.2, pty == nil ? 0 : 1, recorder, context, &pid)
            }
        }
        guard err == 0 else { throw .system(operation: "start the relay", path: own, errno: err) }
        return pid
    }
}
