import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A listening Unix stream socket (close-on-exec, non-blocking) that appears at its path only
/// once it listens: it is bound under a staging sibling name and hard-linked into place. A
/// client that waits for the file and connects at once (as Firecracker's SDKs and kiln's own
/// tools do) would otherwise race bind(2) against listen(2) and be refused (CI saw it under
/// load), and a second VMM starting on the path would take the not-yet-listening socket for a
/// stale one. link(2), unlike rename(2), never replaces a file that appeared meanwhile: that is
/// EEXIST. A path too long for the staging name, or on a file system without hard links, is
/// bound directly. Only before the calling thread's seccomp filter (no filter allows bind or
/// link).
public enum ListeningUnixSocket {
    public struct Failure: Error, Sendable {
        public enum Operation: String, Sendable { case socket, bind, listen, link }
        public let operation: Operation
        public let errno: Int32
        /// Something appeared at the path meanwhile (link's EEXIST): never replaced.
        public var pathExists: Bool { operation == .link && errno == EEXIST }
    }

    /// Called with the public path between bind(2) and listen(2): lets a test look at the
    /// directory in the one moment a client could be refused.
    package static let afterBindForTesting = Mutex<(@Sendable (String) -> Void)?>(nil)

    /// `sun_path` holds 108 bytes with the terminating NUL; `path` must fit (callers check).
    public static func create(at path: String, backlog: Int32) -> Result<Int32, Failure> {
        let staging = path + ".\(getpid()).tmp"
        guard staging.utf8.count < 108 else { return bindAndListen(at: path, announcing: path, backlog: backlog) }
        unlinkLeftoverStaging(staging)
        let fd: Int32
        switch bindAndListen(at: staging, announcing: path, backlog: backlog) {
        case .success(let listening): fd = listening
        case .failure(let failure): return .failure(failure)
        }
        let linked = link(staging, path)
        let code = errno
        unlink(staging)
        if linked == 0 { return .success(fd) }
        close(fd)
        // A file system without hard links (some FUSE and network ones): bound in place, as
        // before, with the race this avoids elsewhere.
        if code == EPERM || code == EOPNOTSUPP || code == EMLINK { return bindAndListen(at: path, announcing: path, backlog: backlog) }
        return .failure(Failure(operation: .link, errno: code))
    }

    private static func bindAndListen(at bindPath: String, announcing path: String, backlog: Int32) -> Result<Int32, Failure> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .failure(Failure(operation: .socket, errno: errno)) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bindPath.utf8)  // shorter than sun_path (checked): NUL-terminated
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if bound == 0, let hook = afterBindForTesting.withLock({ $0 }) { hook(path) }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let code = errno
            close(fd)
            if bound == 0 { unlink(bindPath) }
            return .failure(Failure(operation: bound == 0 ? .listen : .bind, errno: code))
        }
        return .success(fd)
    }

    /// A staging name left by a VMM killed between bind(2) and link(2) (its pid since reused):
    /// removed only if it is a socket; unlink(2) follows no link.
    private static func unlinkLeftoverStaging(_ staging: String) {
        var info = stat()
        if lstat(staging, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK { unlink(staging) }
    }
}
