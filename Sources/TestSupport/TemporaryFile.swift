#if canImport(Glibc)
import Glibc
#endif

/// A file in /tmp holding given bytes, removed when the object goes away (a disk image for
/// virtio-blk tests).
public final class TemporaryFile {
    public let path: String

    public init(contents: [UInt8]) {
        var template = Array("/tmp/kiln-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        precondition(fd >= 0, "mkstemp failed (errno \(errno))")
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let written = contents.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        precondition(written == contents.count, "writing \(path) failed")
        close(fd)
    }

    deinit { unlink(path) }

    public var contents: [UInt8] {
        let fd = open(path, O_RDONLY)
        precondition(fd >= 0)
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return bytes
    }

    /// Cuts the file to `size` bytes behind a backend's back (to provoke short reads).
    public func truncate(to size: Int) {
        precondition(Glibc.truncate(path, off_t(size)) == 0)
    }
}
