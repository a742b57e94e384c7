import Glibc

/// A scratch directory for one test, removed (by path, it is the test's own) at the end.
final class TestDirectory {
    let path: String

    init() {
        var template = Array("/tmp/kiln-host-tests.XXXXXX".utf8CString)
        path = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!)! })
    }

    deinit { _ = system("rm -rf '\(path)'") }

    func make(_ name: String, mode: mode_t = 0o700, owner: uid_t? = nil) -> String {
        let dir = "\(path)/\(name)"
        precondition(mkdir(dir, mode) == 0 && chmod(dir, mode) == 0)
        if let owner { precondition(chown(dir, owner, owner) == 0) }
        return dir
    }

    static func write(_ path: String, _ text: String, owner: uid_t? = nil) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
        if let owner { precondition(chown(path, owner, owner) == 0) }
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// A pid no process has now (searched down from the top of the pid range).
    static func deadPid() -> pid_t {
        var pid: pid_t = 4_000_000
        while kill(pid, 0) == 0 || errno != ESRCH { pid -= 1 }
        return pid
    }
}

/// The nobody user: a uid that is not kiln's (the tests run as root).
let otherUid: uid_t = 65534
