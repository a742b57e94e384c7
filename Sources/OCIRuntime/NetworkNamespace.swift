import CHost
import Glibc

/// Runs a step inside the container's network namespace (linux.namespaces' network path): the
/// TAP created and the VMM started there, so the VMM reaches the TAP by name and the engine's
/// CNI/netavark namespace holds the container's network device. The process returns to its own
/// namespace afterwards (the VMM keeps the one it was started in).
public enum NetworkNamespace {
    public static func within<T>(_ path: String?, _ body: () throws(OCIRuntimeError) -> T) throws(OCIRuntimeError) -> T {
        guard let path else { return try body() }
        let original = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw .system(operation: "open", path: "/proc/self/ns/net", errno: errno) }
        defer { close(original) }
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw .system(operation: "open network namespace", path: path, errno: errno) }
        defer { close(target) }
        guard kiln_oci_setns_net(target) == 0 else { throw .system(operation: "setns", path: path, errno: errno) }
        defer {
            // Failing to return would leave later steps (the state directory's TAP release) in
            // the wrong namespace; the process ends right after create or delete anyway.
            _ = kiln_oci_setns_net(original)
        }
        return try body()
    }
}
