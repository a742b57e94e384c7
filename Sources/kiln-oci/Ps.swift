import ArgumentParser
import Glibc
import OCIRuntime
import SandboxHost

/// `ps [--format table|json] ID`: the container's processes as the host sees them, its relays
/// (the processes inside the VM are the guest's, and their pids mean nothing on the host).
struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the container's processes (their host relays).")

    @ParentCommand var global: KilnOCI

    @Option(name: [.customLong("format"), .customShort("f")], help: ArgumentHelp("table or json.", valueName: "format"))
    var format: String = "table"

    @Argument(help: ArgumentHelp("The container id.", valueName: "id")) var id: String

    func run() throws {
        guard format == "table" || format == "json" else { throw OCIRuntimeError.failed("invalid format option \"\(format)\"") }
        let container = try global.store.load(id)
        var pids: [pid_t] = []
        if let relay = container.record?.relay, relay.isAlive { pids.append(relay.pid) }
        pids += container.execRelays().map(\.pid)
        if format == "json" {
            printOut(JSONOutput.array(pids.map { .int(Int64($0)) }).serialized())
            return
        }
        var lines = ["PID   CMD"]
        for pid in pids {
            let command = (FileText.read("/proc/\(pid)/cmdline", limit: 4096) ?? "").split(separator: "\0").joined(separator: " ")
            lines.append("\(pid)   \(command)")
        }
        printOut(lines.joined(separator: "\n"))
    }
}

/// `pause ID`: stops the VM (SIGSTOP to the VMM and what it started: every vCPU stops, as a
/// frozen cgroup would stop runc's processes).
struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pause the container's VM.")

    @ParentCommand var global: KilnOCI
    @Argument(help: ArgumentHelp("The container id.", valueName: "id")) var id: String

    func run() throws {
        let container = try global.store.load(id)
        guard container.status == .running, let record = container.record else {
            throw OCIRuntimeError.state("container not running")
        }
        if let err = FileText.write(container.directory.file(ContainerStore.pausedName), "\(time(nil))\n") {
            throw OCIRuntimeError.system(operation: "write", path: container.directory.file(ContainerStore.pausedName), errno: err)
        }
        ProcessTree.kill(record.vmm, signal: SIGSTOP)
    }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resume a paused container's VM.")

    @ParentCommand var global: KilnOCI
    @Argument(help: ArgumentHelp("The container id.", valueName: "id")) var id: String

    func run() throws {
        let container = try global.store.load(id)
        guard container.status == .paused, let record = container.record else {
            throw OCIRuntimeError.state("container not paused")
        }
        ProcessTree.kill(record.vmm, signal: SIGCONT)
        unlink(container.directory.file(ContainerStore.pausedName))
    }
}

/// `update --resources FILE ID`: the file is checked as strictly as config.json's
/// linux.resources. A VM's RAM and vCPUs are fixed once it runs (no hotplug yet), so a change
/// of either is refused by name; everything else is the engine's cgroups' business.
struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check new resource limits (a running VM keeps its size).")

    @ParentCommand var global: KilnOCI

    @Option(name: [.customLong("resources"), .customShort("r")], help: ArgumentHelp("LinuxResources JSON.", valueName: "file"))
    var resources: String?

    @Argument(help: ArgumentHelp("The container id.", valueName: "id")) var id: String

    func run() throws {
        let container = try global.store.load(id)
        guard container.status != .stopped else { throw OCIRuntimeError.state("container not running") }
        guard let resources else { return }
        let update: OCIResources
        do { update = try OCIResources.load(path: resources) } catch { throw OCIRuntimeError.config(error) }
        guard let config = try? OCIConfig.load(path: container.directory.file("config.json")) else { return }
        // The VM's size follows config.json as it was at create; what earlier updates accepted
        // is kept beside it, so each update applies over the last.
        let kept = container.directory.file(Self.keptName)
        let base = (try? OCIResources.load(path: kept)) ?? config.resources
        let current = try? VMSize.of(config, hostMemoryMiB: Launch.hostMemoryMiB())
        var changed = config
        changed.resources = base.updated(by: update)
        let wanted: VMSize
        do { wanted = try VMSize.of(changed, hostMemoryMiB: Launch.hostMemoryMiB()) } catch { throw OCIRuntimeError.config(error) }
        if let current, current != wanted {
            throw OCIRuntimeError.failed("update: the VM of \(id) has \(current.memoryMiB) MiB and \(current.cpus) vCPUs; a running kiln VM cannot be resized (wanted \(wanted.memoryMiB) MiB, \(wanted.cpus) vCPUs)")
        }
        if let err = FileText.write(kept, changed.resources.json.serialized() + "\n") {
            throw OCIRuntimeError.system(operation: "write", path: kept, errno: err)
        }
    }

    /// The accepted resources, in the container's state directory.
    static let keptName = "resources.json"
}

/// `list [--format table|json] [--quiet]`: every container under --root.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List containers.")

    @ParentCommand var global: KilnOCI

    @Option(name: [.customLong("format"), .customShort("f")], help: ArgumentHelp("table or json.", valueName: "format"))
    var format: String = "table"

    @Flag(name: [.customLong("quiet"), .customShort("q")], help: "Only the ids.") var quiet = false

    func run() throws {
        guard format == "table" || format == "json" else { throw OCIRuntimeError.failed("invalid format option \"\(format)\"") }
        let containers = global.store.ids().compactMap { try? global.store.load($0) }
        if quiet { if !containers.isEmpty { printOut(containers.map(\.id).joined(separator: "\n")) }; return }
        if format == "json" {
            printOut(JSONOutput.array(containers.map { $0.stateJSON() }).serialized())
            return
        }
        var lines = ["ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER"]
        for container in containers {
            let status = container.status
            let pid = status == .stopped ? 0 : container.record?.relay.pid ?? 0
            lines.append("\(container.id)\t\(pid)\t\(status.rawValue)\t\(container.record?.bundle ?? "")\t\(container.record?.created ?? "")\troot")
        }
        printOut(lines.joined(separator: "\n"))
    }
}
