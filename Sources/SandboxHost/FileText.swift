import Glibc

/// Small text files of the sandbox state (pid, config): whole-file reads and writes without
/// Foundation.
public enum FileText {
    public static func read(_ path: String, limit: Int = 65536) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return read(descriptor: fd, limit: limit)
    }

    /// Up to `limit` bytes from `fd`'s current offset.
    public static func read(descriptor fd: Int32, limit: Int) -> String? {
        // Sized to the file, not to the limit: `kiln run --image` reads two account files of a
        // few hundred bytes with a 1 MiB limit, and zero-filling the two buffers was a fifth of
        // its host process (more again in the nested harness, a page fault per fresh page).
        var info = stat()
        let size = fstat(fd, &info) == 0 && info.st_mode & S_IFMT == S_IFREG ? Int(info.st_size) : 0
        var buffer = [UInt8](repeating: 0, count: min(limit, max(size, 4096 - 1) + 1))
        var total = 0
        while total < limit {
            if total == buffer.count {
                buffer.append(contentsOf: repeatElement(0, count: min(limit - buffer.count, buffer.count)))
            }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + total, $0.count - total) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            total += n
        }
        return String(decoding: buffer[0..<total], as: UTF8.self)
    }

    /// Writes through a temporary file and a rename, so a reader never sees half a file.
    /// nil, or the errno of the step that failed.
    public static func write(_ path: String, _ text: String) -> Int32? {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return errno }
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { let err = errno; close(fd); unlink(temporary); return err }
            done += n
        }
        close(fd)
        guard rename(temporary, path) == 0 else { let err = errno; unlink(temporary); return err }
        return nil
    }

    /// Names in a directory, without "." and "..".
    public static func entries(_ path: String) -> [String] {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        return DirectoryTree.entries(of: fd)
    }
}
