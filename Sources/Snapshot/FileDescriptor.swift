#if canImport(Glibc)
import Glibc
#endif

/// An open file closed when its owner goes away, with the few calls the snapshot files need;
/// errors name the operation, the path and the errno.
final class OpenFile {
    let raw: Int32
    let path: String

    private init(raw: Int32, path: String) {
        self.raw = raw
        self.path = path
    }

    deinit { close(raw) }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o600) throws(SnapshotError) -> OpenFile {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return OpenFile(raw: fd, path: path) }
            if errno != EINTR { throw .file(operation: "open", path: path, errno: errno) }
        }
    }


    func size() throws(SnapshotError) -> UInt64 { try BorrowedFile(raw: raw, path: path).size() }
    var borrowed: BorrowedFile { BorrowedFile(raw: raw, path: path) }
}

/// The calls themselves, on a descriptor someone else owns.
struct BorrowedFile {
    let raw: Int32
    let path: String

    func size() throws(SnapshotError) -> UInt64 {
        var info = stat()
        guard fstat(raw, &info) == 0 else { throw .file(operation: "fstat", path: path, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .file(operation: "open (not a regular file)", path: path, errno: EINVAL) }
        return UInt64(info.st_size)
    }

    func truncate(_ size: UInt64) throws(SnapshotError) {
        guard let length = off_t(exactly: size), ftruncate(raw, length) == 0 else {
            throw .file(operation: "ftruncate", path: path, errno: errno)
        }
    }

    /// Writes all of `buffer` at `offset`, retrying short writes and EINTR.
    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(SnapshotError) {
        var done = 0
        while done < buffer.count {
            let result = pwrite(raw, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if result > 0 { done += result; continue }
            if result < 0, errno == EINTR { continue }
            throw .file(operation: "pwrite", path: path, errno: result < 0 ? errno : EIO)
        }
    }

    /// Reads exactly `buffer.count` bytes at `offset`; a short file is an error.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(SnapshotError) {
        var done = 0
        while done < buffer.count {
            let result = pread(raw, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if result > 0 { done += result; continue }
            if result < 0, errno == EINTR { continue }
            if result == 0 { throw .truncated(what: path, needed: UInt64(buffer.count), available: UInt64(done)) }
            throw .file(operation: "pread", path: path, errno: errno)
        }
    }
}
