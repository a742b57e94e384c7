import Glibc

/// Removal of a directory tree relative to directory descriptors, never following a symbolic
/// link: a link is unlinked, not followed, and an entry swapped for a link between two steps is
/// not entered (O_NOFOLLOW). A run directory holds a jail whose files belong to the jail's user,
/// who could otherwise point a path-based removal running as root anywhere.
enum DirectoryTree {
    /// Deeper than any tree kiln makes (a jail is a few levels): bounds descriptors and stack.
    static let maximumDepth = 32

    /// Removes every entry of the directory open as `fd`. Directories on another device (a
    /// mount point) are not entered, so a mount left in a jail never has its files removed.
    static func removeContents(of fd: Int32, device: dev_t, depth: Int) {
        guard depth < maximumDepth else { return }
        for name in entries(of: fd) {
            // unlink(2) of a directory fails with EISDIR on Linux: one call for everything else.
            if unlinkat(fd, name, 0) == 0 || errno != EISDIR { continue }
            let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else {
                // Swapped for a link or a file since: remove that instead of entering it.
                _ = unlinkat(fd, name, 0)
                continue
            }
            var info = stat()
            if fstat(child, &info) == 0 && info.st_dev == device {
                removeContents(of: child, device: device, depth: depth + 1)
            }
            close(child)
            _ = unlinkat(fd, name, AT_REMOVEDIR)
        }
    }

    /// Names in the directory open as `fd`, without "." and ".."; `fd` stays open.
    static func entries(of fd: Int32) -> [String] {
        // fdopendir takes over the descriptor it is given, so it gets a copy.
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { return [] }
        guard let dir = fdopendir(copy) else {
            close(copy)
            return []
        }
        defer { closedir(dir) }
        rewinddir(dir)
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
