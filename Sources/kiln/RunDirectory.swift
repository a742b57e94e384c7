import Glibc

/// The private directory of one `kiln run`: the VMM's vsock socket, console and log (and
/// the name of its TAP with --net).
/// Named /tmp/kiln-run.<pid>.<random> so a later run can remove what a killed run left behind.
struct RunDirectory {
    static let parent = "/tmp"
    static let prefix = "kiln-run."

    let path: String

    static func create() -> RunDirectory {
        var template = Array("\(parent)/\(prefix)\(getpid()).XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fail("cannot create a run directory in \(parent): \(String(cString: strerror(errno)))")
        }
        return RunDirectory(path: String(cString: made))
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Deletes the TAP recorded in the directory (`--net`), then removes the directory and
    /// everything in it (a jail, if the VMM was jailed). A TAP that cannot be deleted yet keeps
    /// the directory, so `kiln gc` can try again: false then.
    @discardableResult
    func remove() -> Bool {
        guard TapRecord.release(in: path) else { return false }
        Self.removeTree(path)
        return true
    }

    /// Removes `path` and everything under it without following symbolic links (a jail holds
    /// directories, device nodes and files owned by the jail's user).
    static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in FileText.entries(path) { removeTree("\(path)/\(name)") }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}
