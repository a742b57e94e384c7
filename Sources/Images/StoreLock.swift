import Glibc

/// An `flock` on a file of the store, released when the value goes (or the process dies: a pull
/// killed with SIGKILL never leaves the store locked).
struct StoreLock: ~Copyable {
    /// Open while the lock is held; a child given a copy of it holds the lock too.
    let fd: Int32

    enum Mode { case shared, exclusive }

    init(_ path: String, _ mode: Mode) throws(ImageError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw .system("open", path) }
        while flock(fd, mode == .shared ? LOCK_SH : LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let code = errno
            close(fd)
            throw .system(operation: "flock", path: path, errno: code)
        }
        self.fd = fd
    }

    /// The lock if it is free now; nil if another process holds it.
    init?(trying path: String, _ mode: Mode) throws(ImageError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw .system("open", path) }
        while flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw .system(operation: "flock", path: path, errno: code)
        }
        self.fd = fd
    }

    deinit { close(fd) }
}

extension StoreLock {
    /// Runs `body` holding the lock; it is released on every way out.
    static func holding<T>(_ path: String, _ mode: Mode, _ body: () throws(ImageError) -> T) throws(ImageError) -> T {
        try holdingDescriptor(path, mode) { (_: Int32) throws(ImageError) -> T in try body() }
    }

    /// As `holding`, handing `body` the locked descriptor.
    static func holdingDescriptor<T>(_ path: String, _ mode: Mode, _ body: (Int32) throws(ImageError) -> T) throws(ImageError) -> T {
        let lock = try StoreLock(path, mode)
        let result: Result<T, ImageError>
        do throws(ImageError) { result = .success(try body(lock.fd)) } catch { result = .failure(error) }
        _ = consume lock
        return try result.get()
    }
}
