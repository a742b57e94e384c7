import Glibc

/// Reads a JSON file from a bundle: bounded in size before anything is parsed, not a FIFO or
/// device (O_NONBLOCK, then checked to be a regular file), so a hostile bundle cannot make the
/// runtime block or allocate without limit.
enum BundleFile {
    /// podman's config.json with its inline seccomp profile is ~40 KiB; 1 MiB is generous.
    static let sizeLimit = 1 << 20

    static func read(_ path: String, limit: Int = sizeLimit) throws(OCIConfigError) -> JSONDocument {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw .read(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .read(path: path, operation: "fstat", errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .read(path: path, operation: "open (not a regular file)", errno: EINVAL) }
        guard info.st_size <= limit else { throw .tooLarge(path: path, limit: limit) }
        return try read(descriptor: fd, path: path, limit: limit)
    }

    /// Reads from `fd` to its end (or one byte past `limit`): a file, or the pipe containerd
    /// writes `update --resources -` into. A pipe's writer can stall this, as it can runc's.
    static func read(descriptor fd: Int32, path: String, limit: Int = sizeLimit) throws(OCIConfigError) -> JSONDocument {
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var total = 0
        // Read one byte past the limit: a file that grew after fstat is caught too.
        while total < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + total, $0.count - total) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw .read(path: path, operation: "read", errno: errno) }
            if n == 0 { break }
            total += n
        }
        guard total <= limit else { throw .tooLarge(path: path, limit: limit) }
        do {
            return try JSONDocument.parse(Array(bytes[0..<total]))
        } catch {
            throw .syntax(path: path, error)
        }
    }
}
