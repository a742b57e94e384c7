import Glibc

/// The few file operations the store needs, with errno kept in the error.
enum FileBytes {
    /// The whole file, refusing one larger than `limit` (the store's JSON is small; a huge file
    /// there is damage, not data).
    static func read(_ path: String, limit: Int64) throws(ImageError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw .system("open", path) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        // Chunks the size of the file (bounded): kiln run reads small JSON files here, and a
        // zero-filled 64 KiB chunk per file cost more than the read.
        var info = stat()
        let size = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        var chunk = [UInt8](repeating: 0, count: min(64 << 10, max(size, 4096 - 1) + 1))
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system("read", path)
            }
            if count == 0 { return bytes }
            guard Int64(bytes.count + count) <= limit else { throw .system(operation: "read", path: path, errno: EFBIG) }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// Writes `bytes` to a new file at `path` (which must not exist), flushed to disk.
    static func create(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(ImageError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw .system("create", path) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system("write", path)
            }
            offset += count
        }
        guard fsync(fd) == 0 else { throw .system("fsync", path) }
    }

    /// Replaces `path` atomically: a reader sees the old file or the new one, never a part.
    static func replace(_ path: String, _ bytes: [UInt8], temporaryDirectory: String) throws(ImageError) {
        let temporary = "\(temporaryDirectory)/\(uniqueName("write"))"
        do throws(ImageError) {
            try create(temporary, bytes)
            guard rename(temporary, path) == 0 else { throw ImageError.system("rename", path) }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(ImageError) {
        guard mkdir(path, mode) == 0 || errno == EEXIST else { throw .system("mkdir", path) }
    }

    /// Removes a file or a whole tree without following symbolic links; a missing path is fine.
    static func remove(_ path: String) throws(ImageError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw .system("lstat", path)
        }
        if (info.st_mode & S_IFMT) != S_IFDIR {
            guard unlink(path) == 0 || errno == ENOENT else { throw .system("unlink", path) }
            return
        }
        // The store's own directories: make them writable again if a converter left them not.
        chmod(path, 0o700)
        for entry in try entries(path) { try remove("\(path)/\(entry)") }
        guard rmdir(path) == 0 || errno == ENOENT else { throw .system("rmdir", path) }
    }

    /// Names in a directory, without `.` and `..`; a missing directory has none.
    static func entries(_ path: String) throws(ImageError) -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw .system("opendir", path)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// A name no other process or thread picks: pid, time and a random part.
    static func uniqueName(_ prefix: String) -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return "\(prefix).\(getpid()).\(time.tv_sec)\(time.tv_nsec).\(UInt32.random(in: 0...UInt32.max))"
    }
}
