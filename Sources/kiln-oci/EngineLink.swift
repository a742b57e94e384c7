import Glibc
import OCIRuntime
import SandboxHost

/// Hands the engine's network to the guest (run inside the container's network namespace, as
/// root): the engine's interface is found with `ip`, and `tc` redirects every frame arriving
/// on it to the VM's TAP and every frame from the TAP out of it (ingress qdiscs, a match-all
/// u32 filter with a mirred egress redirect each way: Kata's "tcfilter"). The veth keeps its
/// address, which only answers nothing: nothing in the namespace sees a frame any more.
enum EngineLink {
    /// The engine's interface, nil when the namespace has none with a default route (`--network
    /// none`). The tool output goes to files in the state directory, read back bounded.
    static func discover(directory: RunDirectory) throws(OCIRuntimeError) -> EngineInterface? {
        let addresses = try query(["ip", "-j", "addr", "show"], output: directory.file("ip-addr.json"))
        let routes = try query(["ip", "-j", "-4", "route", "show", "default"], output: directory.file("ip-route.json"))
        return EngineInterface.find(addresses: addresses, defaultRoutes: routes)
    }

    /// Connects the TAP and the engine's interface both ways, and gives the TAP its MTU.
    static func redirect(tap: String, to engine: EngineInterface, directory: RunDirectory) throws(OCIRuntimeError) {
        let log = directory.file("tc.log")
        // An ingress qdisc left on the veth by an earlier, failed create in this namespace would
        // still redirect to a TAP that is gone: removed first (its filters go with it). The veth
        // is this container's alone; a status other than 0 here only means there was none.
        _ = try HostCommand.run(["tc", "qdisc", "del", "dev", engine.name, "ingress"], output: log)
        let steps: [[String]] = [
            ["ip", "link", "set", "dev", tap, "mtu", "\(engine.mtu)"],
            ["tc", "qdisc", "add", "dev", engine.name, "ingress"],
            ["tc", "filter", "add", "dev", engine.name, "parent", "ffff:", "protocol", "all", "u32", "match", "u8", "0", "0",
             "action", "mirred", "egress", "redirect", "dev", tap],
            ["tc", "qdisc", "add", "dev", tap, "ingress"],
            ["tc", "filter", "add", "dev", tap, "parent", "ffff:", "protocol", "all", "u32", "match", "u8", "0", "0",
             "action", "mirred", "egress", "redirect", "dev", engine.name],
        ]
        for step in steps {
            let status = try HostCommand.run(step, output: log)
            guard status == 0 else {
                let why = FileText.read(log, limit: 4096)?.split(separator: "\n").first.map(String.init) ?? ""
                throw .failed("network: `\(step.joined(separator: " "))` exited \(status): \(why)")
            }
        }
    }

    private static func query(_ argv: [String], output: String) throws(OCIRuntimeError) -> JSONDocument {
        let status = try HostCommand.run(argv, output: output)
        guard let text = FileText.read(output, limit: 1 << 20) else { throw .system(operation: "read", path: output, errno: errno) }
        guard status == 0 else {
            throw .failed("network: `\(argv.joined(separator: " "))` exited \(status): \(text.split(separator: "\n").first ?? "")")
        }
        do { return try JSONDocument.parse(Array(text.utf8)) } catch {
            throw .failed("network: `\(argv.joined(separator: " "))` printed \(error)")
        }
    }
}
