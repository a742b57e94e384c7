import Glibc
import Sandbox
import SandboxHost

/// Ends a container and removes everything it has on the host: its `create` if that still runs
/// (so nothing new is made meanwhile), the VMM (and the jailer above it), the relays, then in
/// the container's network namespace the TAP and the redirect on the engine's interface, and
/// last the state directory with the jail in it. Works from container.json or, for a create that
/// died before writing it, from the CreationJournal. `delete` and `kiln gc` call it.
public enum ContainerTeardown {
    /// How long the VMM may take to go after SIGKILL (the kernel tears down guest memory).
    static let exitWait: Double = 5

    public static func remove(_ container: Container) throws(OCIRuntimeError) {
        if let creator = container.journal.creator, container.record == nil, creator.pid != getpid() {
            ProcessTree.kill(creator, signal: SIGKILL)
        }
        // The VMM first: the workload lives in it, and it takes the relays' sessions down.
        let processes = [container.vmm, container.relay].compactMap { $0 } + container.execRelays()
        for process in processes { ProcessTree.kill(process, signal: SIGKILL) }
        let deadline = monotonicNow() + exitWait
        while processes.contains(where: \.isAlive) && monotonicNow() < deadline { usleep(10_000) }
        if let survivor = processes.first(where: \.isAlive) {
            throw .failed("process \(survivor.pid) of \(container.id) survived SIGKILL")
        }
        // The TAP and the engine link live in the container's network namespace.
        try NetworkNamespace.within(container.netns) { () throws(OCIRuntimeError) in
            if let link = container.journal.engineLink {
                // Only the redirect kiln-oci added: the veth's ingress qdisc (and its filter).
                _ = try? HostCommand.run(["tc", "qdisc", "del", "dev", link, "ingress"],
                                         output: container.directory.file("tc-teardown.log"))
            }
            do throws(SandboxHostError) { try container.directory.remove() } catch { throw .host(error) }
        }
    }
}

/// A recorded process and what it started (the jailer forks the VMM into a new pid namespace,
/// so the recorded pid is its parent): found through /proc/PID/task/*/children.
public enum ProcessTree {
    static func pids(of root: ProcessIdentity) -> [pid_t] {
        guard root.isAlive else { return [] }
        var result: [pid_t] = []
        var queue = [root.pid]
        while let pid = queue.popLast(), result.count < 4096 {
            result.append(pid)
            for task in FileText.entries("/proc/\(pid)/task") {
                let children = FileText.read("/proc/\(pid)/task/\(task)/children", limit: 65536) ?? ""
                queue += children.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pid_t($0) }
            }
        }
        return result
    }

    public static func kill(_ root: ProcessIdentity, signal: Int32) {
        // Parents first: a parent stopped or killed cannot start new children meanwhile.
        for pid in pids(of: root) { _ = Glibc.kill(pid, signal) }
    }
}
