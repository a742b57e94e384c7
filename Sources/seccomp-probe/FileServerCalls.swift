import CFileServer
#if canImport(Glibc)
import Glibc
#endif

/// What the devices role's virtio-fs file server does (Devices/Virtio/Fs/HostFiles.swift), on
/// the probe's own root: the shared root opened O_PATH before the filter, then under it one
/// name resolved beneath that root, its status, a link read, a read, a directory listed,
/// statfs and the xattr calls. Errors are fine: each call got past the filter to fail.
enum FileServerCalls {
    /// Opened before the filter, as `FileServer.init` opens the shared directory.
    static func openRoot() -> Int32 { open("/", Int32(KILN_O_PATH) | O_DIRECTORY | O_CLOEXEC) }

    static func exercise(root: Int32) {
        let resolve = UInt64(KILN_RESOLVE_BENEATH | KILN_RESOLVE_NO_SYMLINKS | KILN_RESOLVE_NO_MAGICLINKS)
        let flags = UInt64(UInt32(bitPattern: O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC))
        let directory = kiln_fs_openat2(root, "proc", flags, 0, resolve)
        let fd = directory >= 0 ? directory : root
        var info = stat()
        _ = fstat(fd, &info)
        var bytes = [UInt8](repeating: 0, count: 4096)
        bytes.withUnsafeMutableBytes { buffer in
            let base = buffer.baseAddress!
            _ = readlinkat(root, "", base.assumingMemoryBound(to: CChar.self), buffer.count)
            _ = pread(fd, base, 16, 0)
            _ = lseek(fd, 0, SEEK_SET)
            _ = kiln_fs_getdents64(fd, base, buffer.count)
            _ = kiln_fs_fgetxattr(fd, "user.kiln", base, buffer.count)
            _ = kiln_fs_flistxattr(fd, base.assumingMemoryBound(to: CChar.self), buffer.count)
        }
        var statistics = kiln_fs_statfs()
        _ = kiln_fs_fstatfs(root, &statistics)
        if directory >= 0 { close(directory) }
    }
}
