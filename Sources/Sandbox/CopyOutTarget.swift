import Glibc

/// Where a copy-out lands on the host, and the only way bytes from the guest reach the host's
/// file system. The guest chooses the contents, the announced size and the mode; none of it may
/// create a setuid file, follow a link someone planted, or damage an existing file:
/// - the data goes to an unnamed temporary file (O_TMPFILE) in the destination's directory,
///   given a name and renamed over the destination only when complete (a symlink at the
///   destination is replaced, never followed), so a kiln killed mid-copy leaves nothing there;
///   where the file system has no O_TMPFILE, to a named one (O_CREAT|O_EXCL|O_NOFOLLOW);
/// - the mode keeps only the permission bits (`& 0o777`), and the umask applies;
/// - an announced size larger than the free space is refused before a byte is written, and a
///   write that fails later (ENOSPC, EFBIG) removes the temporary file.
struct CopyOutTarget {
    /// The directory the file goes into (the user's path: it is resolved as given).
    let directory: String
    /// The file's name in it.
    let name: String

    /// `destination` as the user typed it: an existing directory (not a symlink to one) takes
    /// the file under the guest file's own name.
    init(destination: String, guestSource: String) throws(SandboxError) {
        var info = stat()
        let isDirectory = lstat(destination, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
        if isDirectory || destination.hasSuffix("/") {
            directory = destination
            name = Self.lastComponent(guestSource)
        } else if let slash = destination.lastIndex(of: "/") {
            let parent = String(destination[..<slash])
            directory = parent.isEmpty ? "/" : parent
            name = String(destination[destination.index(after: slash)...])
        } else {
            directory = "."
            name = destination
        }
        guard !name.isEmpty, name != ".", name != ".." else {
            throw .local(operation: "copy-out to \(destination) (no file name)", errno: EINVAL)
        }
    }

    /// O_TMPFILE (asm-generic/fcntl.h: __O_TMPFILE | O_DIRECTORY), a macro Swift does not import.
    static let unnamedFile: Int32 = 0o20000000 | O_DIRECTORY

    static func temporaryName(_ name: String) -> String {
        ".\(name).kiln-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }

    static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? ""
    }

    var path: String { directory == "/" ? "/\(name)" : "\(directory)/\(name)" }

    /// Creates the temporary file with the guest's permission bits (nothing else).
    func create(mode guestMode: UInt32, announcedSize: UInt64) throws(SandboxError) -> CopyOutFile {
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else { throw .local(operation: "open directory \(directory)", errno: errno) }
        var space = statvfs()
        if fstatvfs(dirFD, &space) == 0 {
            let (free, overflow) = UInt64(space.f_bavail).multipliedReportingOverflow(by: UInt64(space.f_frsize))
            if !overflow && announcedSize > free {
                close(dirFD)
                throw .local(operation: "copy-out \(path): the guest announces \(announcedSize) bytes, \(directory) has \(free) free",
                             errno: ENOSPC)
            }
        }
        let mode = mode_t(guestMode & 0o777)
        let unnamed = openat(dirFD, ".", Self.unnamedFile | O_WRONLY | O_CLOEXEC, mode)
        if unnamed >= 0 { return CopyOutFile(directoryFD: dirFD, fd: unnamed, temporary: nil, target: self) }
        if errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL {
            let e = errno
            close(dirFD)
            throw .local(operation: "create a temporary file in \(directory)", errno: e)
        }
        for _ in 0..<16 {
            let temporary = Self.temporaryName(name)
            let fd = openat(dirFD, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 { return CopyOutFile(directoryFD: dirFD, fd: fd, temporary: temporary, target: self) }
            if errno != EEXIST {
                let e = errno
                close(dirFD)
                throw .local(operation: "create \(directory)/\(temporary)", errno: e)
            }
        }
        close(dirFD)
        throw .local(operation: "create a temporary file in \(directory)", errno: EEXIST)
    }
}

/// The temporary file of one copy-out: `commit` renames it over the destination, `discard`
/// removes it. Exactly one of them must be called.
struct CopyOutFile {
    let directoryFD: Int32
    let fd: Int32
    /// The named temporary file's name; nil for an unnamed (O_TMPFILE) one.
    let temporary: String?
    let target: CopyOutTarget

    func write(_ bytes: [UInt8]) throws(SandboxError) {
        try writeAll(fd, bytes, what: "write \(target.path)")
    }

    func commit() throws(SandboxError) {
        defer { close(directoryFD) }
        // An unnamed file gets a name only now, complete: rename cannot replace with an
        // unnamed file, and linkat cannot replace an existing name.
        let name: String
        if let temporary {
            name = temporary
        } else {
            guard let linked = linkUnnamed() else {
                let e = errno
                close(fd)
                throw .local(operation: "link into \(target.directory)", errno: e)
            }
            name = linked
        }
        let closed = close(fd)
        let closeErrno = errno
        guard closed == 0 else {
            unlinkat(directoryFD, name, 0)
            throw .local(operation: "close \(target.path)", errno: closeErrno)
        }
        guard renameat(directoryFD, name, directoryFD, target.name) == 0 else {
            let e = errno
            unlinkat(directoryFD, name, 0)
            throw .local(operation: "rename into \(target.path)", errno: e)
        }
    }

    /// Gives the unnamed file a fresh temporary name in the directory (through /proc/self/fd:
    /// linkat's AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH); nil with errno set if it cannot.
    private func linkUnnamed() -> String? {
        for _ in 0..<16 {
            let name = CopyOutTarget.temporaryName(target.name)
            if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", directoryFD, name, AT_SYMLINK_FOLLOW) == 0 { return name }
            if errno != EEXIST { return nil }
        }
        return nil
    }

    func discard() {
        close(fd)
        if let temporary { unlinkat(directoryFD, temporary, 0) }
        close(directoryFD)
    }
}
