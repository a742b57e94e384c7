import CJailer
#if canImport(Glibc)
import Glibc
#endif

/// Builds `<base>/<exec name>/<id>/root` on the host: the directories, a copy of the
/// executable, the files passed with `--copy-in`, and the device nodes, owned as the VMM needs.
enum JailDirectory {
    /// Creates every missing directory of `path` (mode 0755, root's), recording each for the undo.
    static func makeDirectories(_ path: String, rollback: Rollback, step: String) throws(JailerError) {
        var current = ""
        for part in path.split(separator: "/") {
            let parent = current.isEmpty ? "/" : current
            current += "/" + part
            if mkdir(current, 0o755) == 0 {
                let fd = try rollback.keep(parent, step: step)
                rollback.record(.removeDirectory(parent: fd, name: String(part)))
            } else if errno != EEXIST {
                throw .system(step, "mkdir \(current)")
            }
        }
    }

    /// How the executable got into the jail.
    enum ExecutablePlacement: Equatable {
        case linked
        /// An empty mount point: the executable is bind-mounted over it read-only in the jail's
        /// mount namespace (MountNamespace.enter).
        case bindMount
        case copied
    }

    static func create(_ layout: JailLayout, _ config: JailConfig, rollback: Rollback) throws(JailerError) -> ExecutablePlacement {
        let step = "create jail"
        try makeDirectories(layout.execDirectory, rollback: rollback, step: step)
        let execDirectory = try rollback.keep(layout.execDirectory, step: step)
        // The jail directory itself must be new: an id names one VM, and a jail is never reused.
        guard mkdir(layout.jailDirectory, 0o700) == 0 else {
            if errno == EEXIST {
                throw JailerError(step: step, "\(layout.jailDirectory) already exists (ids are unique; remove the old jail first)",
                                  errno: EEXIST)
            }
            throw .system(step, "mkdir \(layout.jailDirectory)")
        }
        rollback.record(.removeTree(parent: execDirectory, name: config.id))
        try check(step, "mkdir \(layout.root)") { mkdir(layout.root, 0o700) }
        // The VMM creates its API socket in its root, so the root is the VMM's own.
        try check(step, "chown \(layout.root)") { chown(layout.root, config.uid, config.gid) }

        let placement = try placeExecutable(config.execFile, at: layout.root + layout.execPathInJail)
        for file in config.copyIn {
            var info = stat()
            try check("copy-in", "stat \(file)") { stat(file, &info) }
            try copy(file, to: layout.root + "/" + baseName(file), mode: (info.st_mode & 0o777) | 0o600,
                     owner: (config.uid, config.gid), step: "copy-in")
        }
        for file in config.bindIn {
            // The mount point: root's, empty, read-only; the bind mount covers it in the jail.
            let target = layout.root + "/" + baseName(file)
            let fd = try check("bind-in", "create \(target)") { open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444) }
            close(fd)
        }
        for index in config.bindInDirectories.indices {
            // The mount point: root's, empty; the bind mount covers it in the jail.
            let target = layout.root + JailConfig.sharedDirectoryPath(index)
            try check("bind-in-dir", "mkdir \(target)") { mkdir(target, 0o555) }
        }
        try makeDeviceNodes(root: layout.root, uid: config.uid, gid: config.gid)
        return placement
    }

    /// Puts the executable into the jail without copying it when that is as safe as a copy:
    /// owned by root and writable by nobody else, so the jailed uid can no more change it than a
    /// root-owned copy. Then it is hard-linked (same filesystem) or else bind-mounted read-only
    /// over an empty mount point. The static kiln is tens of MiB: copying it costs milliseconds
    /// per VM on a host (Benchmarks/jailer.py) and most of a second in the nested test harness.
    /// Anything else is copied (root's, mode 0755).
    static func placeExecutable(_ source: String, at destination: String) throws(JailerError) -> ExecutablePlacement {
        let step = "copy exec file"
        var info = stat()
        try check(step, "stat \(source)") { stat(source, &info) }
        if info.st_uid == 0 && info.st_mode & 0o022 == 0 {
            if link(source, destination) == 0 { return .linked }
            let fd = try check(step, "create \(destination)") { open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o755) }
            close(fd)
            return .bindMount
        }
        try copy(source, to: destination, mode: 0o755, owner: nil, step: step)
        return .copied
    }

    /// Copies a regular file's bytes into a new file (never over an existing one).
    static func copy(_ source: String, to destination: String, mode: mode_t, owner: (UInt32, UInt32)?,
                     step: String) throws(JailerError) {
        let input = try check(step, "open \(source)") { open(source, O_RDONLY | O_CLOEXEC) }
        defer { close(input) }
        let output = try check(step, "create \(destination)") {
            open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        }
        // Closed before exec: a file still open for writing cannot be executed (ETXTBSY).
        defer { close(output) }
        try copyData(from: input, to: output, step: step, what: "copy \(source) to \(destination)")
        try check(step, "chmod \(destination)") { fchmod(output, mode) }
        if let (uid, gid) = owner {
            try check(step, "chown \(destination)") { fchown(output, uid, gid) }
        }
    }

    /// Copies only the data extents and leaves the holes as holes: a sandbox's scratch disk is
    /// a sparse file of gigabytes with a few MiB of ext4 in it.
    // <unistd.h> has them only with _GNU_SOURCE, which Glibc's module is not built with.
    private static let seekData: Int32 = 3, seekHole: Int32 = 4

    static func copyData(from input: Int32, to output: Int32, step: String, what: String) throws(JailerError) {
        var info = stat()
        try check(step, "fstat (\(what))") { fstat(input, &info) }
        var offset: off_t = 0
        while offset < info.st_size {
            var data = lseek(input, offset, seekData)
            if data < 0 && errno == ENXIO { break }   // only a hole left
            if data < 0 { data = offset }             // no SEEK_DATA here: copy everything
            var end = lseek(input, data, seekHole)
            if end < 0 { end = info.st_size }
            guard lseek(output, data, SEEK_SET) == data else { throw .system(step, what) }
            var position = data
            while position < end {
                let sent = sendfile(output, input, &position, Int(min(end - position, off_t(1) << 30)))
                if sent == 0 { break }
                if sent < 0 && errno != EINTR { throw .system(step, what) }
            }
            offset = max(end, position)
        }
        try check(step, "ftruncate (\(what))") { ftruncate(output, info.st_size) }
    }

    static func makeDeviceNodes(root: String, uid: UInt32, gid: UInt32) throws(JailerError) {
        let step = "device nodes"
        for node in JailLayout.deviceNodes {
            let path = root + "/" + node.path
            var directory = path
            while directory.last != "/" { directory.removeLast() }
            var created = root
            for part in directory.dropFirst(root.count).split(separator: "/") {
                created += "/" + part
                if mkdir(created, 0o755) != 0 && errno != EEXIST { throw .system(step, "mkdir \(created)") }
            }
            try check(step, "mknod \(path) (\(node.major), \(node.minor))") {
                mknod(path, S_IFCHR | 0o600, jailer_makedev(node.major, node.minor))
            }
            try check(step, "chown \(path)") { chown(path, uid, gid) }
        }
    }
}
