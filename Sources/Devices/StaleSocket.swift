#if canImport(Glibc)
import Glibc
#endif

/// A Unix socket file nobody listens on any more: what a VMM killed with SIGKILL leaves at its
/// API socket and vsock uds_path. Only a socket file whose connection attempt is refused counts;
/// a regular file, a link, a live socket or any other answer is left alone. Calls connect(2):
/// only before the calling thread's seccomp filter.
public enum StaleSocket {
    public static func isStale(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK, path.utf8.count < 108 else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            raw[path.utf8.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return connected != 0 && errno == ECONNREFUSED
    }
}
