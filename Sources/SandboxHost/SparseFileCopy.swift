import Glibc

/// Copies a file a VMM wrote (hostile, as the guest may own the VMM) out of its directory:
/// opened relative to the directory's descriptor without following a link, required to be a
/// regular file of at most `maxBytes`, copied extent by extent (SEEK_DATA/SEEK_HOLE) so a
/// sparse memory file or disk stays sparse, into a new file (O_EXCL) of the given mode.
enum SparseFileCopy {
    static let seekData: Int32 = 3
    static let seekHole: Int32 = 4
    static let chunk = 1 << 20

    static func copy(name: String, in directory: Int32, directoryPath: String, to destination: String,
                     mode: mode_t, maxBytes: Int64) throws(SandboxHostError) {
        let source = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        let sourcePath = "\(directoryPath)/\(name)"
        guard source >= 0 else { throw .system(operation: "open", path: sourcePath, errno: errno) }
        defer { close(source) }
        var info = stat()
        guard fstat(source, &info) == 0 else { throw .system(operation: "fstat", path: sourcePath, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .notOwned(path: sourcePath, reason: "not a regular file") }
        let size = Int64(info.st_size)
        guard size <= maxBytes else {
            throw .snapshot("\(sourcePath) is \(size) bytes, more than the \(maxBytes) it can be")
        }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard output >= 0 else { throw .system(operation: "create", path: destination, errno: errno) }
        defer { close(output) }
        guard fchmod(output, mode) == 0 else { throw .system(operation: "chmod", path: destination, errno: errno) }
        guard ftruncate(output, off_t(size)) == 0 else { throw .system(operation: "truncate", path: destination, errno: errno) }
        var buffer = [UInt8](repeating: 0, count: chunk)
        var offset: Int64 = 0
        while offset < size {
            let dataStart = Int64(lseek(source, off_t(offset), seekData))
            if dataStart < 0 {
                if errno == ENXIO { break }  // only a hole up to the end
                throw .system(operation: "lseek", path: sourcePath, errno: errno)
            }
            var dataEnd = Int64(lseek(source, off_t(dataStart), seekHole))
            if dataEnd < 0 { dataEnd = size }
            dataEnd = min(dataEnd, size)
            var position = dataStart
            while position < dataEnd {
                let want = Int(min(Int64(chunk), dataEnd - position))
                let got = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress, want, off_t(position)) }
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { throw .system(operation: "read", path: sourcePath, errno: got == 0 ? EIO : errno) }
                var written = 0
                while written < got {
                    let n = buffer.withUnsafeBytes { pwrite(output, $0.baseAddress! + written, got - written, off_t(position) + off_t(written)) }
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw .system(operation: "write", path: destination, errno: n == 0 ? EIO : errno) }
                    written += n
                }
                position += Int64(got)
            }
            offset = dataEnd
        }
        guard fsync(output) == 0 else { throw .system(operation: "fsync", path: destination, errno: errno) }
    }
}
