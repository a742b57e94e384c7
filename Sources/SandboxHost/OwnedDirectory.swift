import Glibc

/// A directory kiln made, opened without following a symbolic link and checked through its
/// descriptor to be owned by kiln's effective uid, so a directory another user planted under a
/// kiln-like name, or swapped in after a check by path, is never read or emptied. Whatever it
/// holds is reached only relative to the descriptor.
public struct OwnedDirectory: ~Copyable {
    public let path: String
    let fd: Int32

    /// Opens `name` in the directory open as `parent` (`path` is only for messages). `private`:
    /// it must also have mode 0700, as mkdtemp makes a run directory.
    static func open(name: String, in parent: Int32, path: String, private: Bool) throws(SandboxHostError) -> OwnedDirectory {
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP || errno == ENOTDIR { throw .notOwned(path: path, reason: "not a directory (a symbolic link?)") }
            throw .system(operation: "open", path: path, errno: errno)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let err = errno
            close(fd)
            throw .system(operation: "fstat", path: path, errno: err)
        }
        if let reason = Self.ownershipProblem(info, private: `private`) {
            close(fd)
            throw .notOwned(path: path, reason: reason)
        }
        return OwnedDirectory(path: path, fd: fd)
    }

    /// Opens `path` itself (its parent directories may be links, e.g. a $TMPDIR that is one).
    public static func open(_ path: String, private: Bool) throws(SandboxHostError) -> OwnedDirectory {
        try open(name: path, in: AT_FDCWD, path: path, private: `private`)
    }

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Why `info` is not a directory of ours, or nil.
    static func ownershipProblem(_ info: stat, private: Bool) -> String? {
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return "not a directory" }
        guard info.st_uid == geteuid() else { return "owned by uid \(info.st_uid), not kiln's uid \(geteuid())" }
        if `private` && (info.st_mode & 0o7777) != 0o700 {
            return "mode \(String(info.st_mode & 0o7777, radix: 8)), not 0700"
        }
        return nil
    }

    /// The text of the regular file `name` in it (at most `limit` bytes), read only when the
    /// file is owned by kiln's effective uid and is not a link; nil otherwise or when absent.
    public func readOwnedFile(_ name: String, limit: Int) -> String? {
        let file = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard file >= 0 else { return nil }
        defer { close(file) }
        var info = stat()
        guard fstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == geteuid() else { return nil }
        return FileText.read(descriptor: file, limit: limit)
    }

    /// Seconds since it was last modified (0 if that cannot be read, or is in the future).
    public var ageSeconds: Int {
        var info = stat()
        var now = timespec()
        guard fstat(fd, &info) == 0, clock_gettime(CLOCK_REALTIME, &now) == 0 else { return 0 }
        return max(0, now.tv_sec - info.st_mtim.tv_sec)
    }

    /// Renames `from` to `to` inside it; nil, or the errno.
    func rename(_ from: String, to: String) -> Int32? {
        renameat(fd, from, fd, to) == 0 ? nil : errno
    }

    func unlink(_ name: String) { _ = unlinkat(fd, name, 0) }

    /// Removes everything in it; see DirectoryTree.
    public func removeContents() {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return }
        DirectoryTree.removeContents(of: fd, device: info.st_dev, depth: 0)
    }
}
