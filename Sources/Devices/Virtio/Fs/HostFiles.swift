import CFileServer
#if canImport(Glibc)
import Glibc
#endif

/// The host system calls the file server makes, each turning failure into a `FuseErrno`.
/// Nothing else in the server touches the host, so this file is the list the device thread's
/// seccomp role must allow: openat2, close, fstat (newfstatat), readlinkat, pread64, preadv, lseek,
/// getdents64, fstatfs, fgetxattr, flistxattr.
enum HostFiles {
    /// Every resolution stays beneath the descriptor it starts from, follows no symlink (not
    /// even /proc's magic links) and does not cross into another mount: the shared tree is one
    /// file system, and whatever is mounted inside it (a /proc, a /dev) is not served.
    static let confined = UInt64(KILN_RESOLVE_BENEATH | KILN_RESOLVE_NO_SYMLINKS
        | KILN_RESOLVE_NO_MAGICLINKS | KILN_RESOLVE_NO_XDEV)

    /// An O_PATH descriptor for `name` beneath `directory`: the entry itself, never what a
    /// symlink points at (O_NOFOLLOW with RESOLVE_NO_SYMLINKS yields the link). O_PATH opens
    /// nothing, so a device node or FIFO found here is never opened.
    static func openPath(_ name: UnsafePointer<CChar>, in directory: Int32) throws(FuseErrno) -> Int32 {
        try openat2(directory, name, flags: Int32(KILN_O_PATH) | O_NOFOLLOW | O_CLOEXEC)
    }

    /// A readable descriptor for `name` beneath `directory`. O_NONBLOCK and O_NOCTTY because
    /// the caller checks the type only afterwards (see `FileServer.reopen`); O_NOFOLLOW
    /// because a symlink swapped in for the name must fail (ELOOP), not be followed.
    static func openForReading(_ name: UnsafePointer<CChar>, in directory: Int32, directoryOnly: Bool) throws(FuseErrno) -> Int32 {
        try openat2(directory, name, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC
            | (directoryOnly ? O_DIRECTORY : 0))
    }

    private static func openat2(_ directory: Int32, _ name: UnsafePointer<CChar>, flags: Int32) throws(FuseErrno) -> Int32 {
        // EAGAIN: a rename on the host raced the kernel's RESOLVE_BENEATH check and it asks
        // for a retry. Bounded, so a host renaming in a loop cannot pin the device thread.
        for _ in 0..<8 {
            let fd = kiln_fs_openat2(directory, name, UInt64(UInt32(bitPattern: flags)), 0, confined)
            if fd >= 0 { return fd }
            if errno != EINTR && errno != EAGAIN { throw .last }
        }
        throw FuseErrno(EAGAIN)
    }

    /// The inode behind any descriptor, O_PATH included (never follows: it is the entry).
    static func status(_ fd: Int32) throws(FuseErrno) -> stat {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .last }
        return status
    }

    /// The target of the symlink `fd` (an O_PATH descriptor of the link itself), as text:
    /// the server never resolves it.
    static func readLink(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(FuseErrno) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        let count = readlinkat(fd, "", base.assumingMemoryBound(to: CChar.self), buffer.count)
        guard count >= 0 else { throw .last }
        return count
    }

    /// Up to `buffer.count` bytes at `offset`; fewer only at the end of the file.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(FuseErrno) -> Int {
        var done = 0
        while done < buffer.count {
            let count = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if count > 0 {
                done += count
            } else if count == 0 {
                break
            } else if errno != EINTR {
                // Bytes already read are still a valid (short) answer.
                if done > 0 { break }
                throw .last
            }
        }
        return done
    }

    /// Up to `limit` bytes at `offset` straight into `segments` (guest buffers), which are
    /// trimmed in place to `limit`; fewer only at the end of the file. Bytes already read
    /// count even if a later call fails.
    static func read(_ fd: Int32, into segments: UnsafeMutableBufferPointer<iovec>, limit: Int,
                     at offset: Int64) throws(FuseErrno) -> Int {
        guard let base = segments.baseAddress else { return 0 }
        var used = 0, remaining = limit
        while used < segments.count, remaining > 0 {
            segments[used].iov_len = min(segments[used].iov_len, remaining)
            remaining -= segments[used].iov_len
            used += 1
        }
        let trimmed = UnsafeMutableBufferPointer(start: base, count: used)
        var done = 0
        var index = VectoredTransfer.advance(trimmed, from: 0, by: 0)
        while index < used {
            let count = min(used - index, VectoredTransfer.maxSegmentsPerCall)
            let result = preadv(fd, base + index, Int32(count), off_t(offset) + off_t(done))
            if result < 0 {
                if errno == EINTR { continue }
                if done > 0 { break }
                throw .last
            }
            if result == 0 { break }
            done += result
            index = VectoredTransfer.advance(trimmed, from: index, by: result)
        }
        return done
    }

    /// Positions a directory stream at a cookie a previous `directoryEntries` handed out.
    static func seek(_ fd: Int32, to offset: Int64) throws(FuseErrno) {
        guard lseek(fd, off_t(offset), SEEK_SET) >= 0 else { throw .last }
    }

    /// Raw linux_dirent64 records from the stream's position; 0 at its end.
    static func directoryEntries(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(FuseErrno) -> Int {
        while true {
            let count = kiln_fs_getdents64(fd, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno != EINTR { throw .last }
        }
    }

    /// The statistics of the file system holding `fd` (O_PATH allowed).
    static func fileSystemStatus(_ fd: Int32) throws(FuseErrno) -> kiln_fs_statfs {
        var status = kiln_fs_statfs()
        guard kiln_fs_fstatfs(fd, &status) == 0 else { throw .last }
        return status
    }

    /// fgetxattr: the value's size when `buffer` is empty, else the bytes copied into it.
    static func extendedAttribute(_ fd: Int32, name: UnsafePointer<CChar>,
                                  into buffer: UnsafeMutableRawBufferPointer) throws(FuseErrno) -> Int {
        let count = kiln_fs_fgetxattr(fd, name, buffer.baseAddress, buffer.count)
        guard count >= 0 else { throw .last }
        return count
    }

    /// flistxattr: the list's size when `buffer` is empty, else the names copied into it.
    static func extendedAttributeNames(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(FuseErrno) -> Int {
        let count = kiln_fs_flistxattr(fd, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count)
        guard count >= 0 else { throw .last }
        return count
    }

    static func close(_ fd: Int32) {
        // Linux releases the descriptor even when close reports an error: never retry.
        _ = Glibc.close(fd)
    }
}
