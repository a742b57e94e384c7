import Glibc

/// `kiln run --disk-size SIZE`: a sparse ext4 file in the run (or sandbox) directory, attached as
/// the guest's second disk, that takes the overlay's writes instead of a tmpfs, so a job can
/// write more than the VM's memory. It goes with the directory.
public enum ScratchDisk {
    public static let fileName = "scratch.ext4"
    /// Below this an ext4 with a journal leaves little room for writes.
    public static let minimumBytes: UInt64 = 64 << 20

    /// `512M`, `2G`, `1T` or a byte count (`K`, `M`, `G`, `T`, powers of 1024; `MiB`/`GiB` too).
    public static func parseSize(_ text: String) throws(ScratchDiskError) -> UInt64 {
        var digits = Substring(text), shift: UInt64 = 0
        for (suffixes, bits) in [(["K", "KiB"], 10), (["M", "MiB"], 20), (["G", "GiB"], 30), (["T", "TiB"], 40)] as [([String], UInt64)] {
            if let suffix = suffixes.first(where: { text.hasSuffix($0) }) {
                digits = text.dropLast(suffix.count)
                shift = bits
            }
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = UInt64(digits) else {
            throw .badSize(text)
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { throw .tooLarge(text, available: 0) }
        return bytes
    }

    /// The size checked against the bounds: at least 64 MiB, at most what `directory`'s file
    /// system has free (the file is sparse, but a guest that fills it must find the room).
    public static func checkedSize(_ text: String, directory: String) throws(ScratchDiskError) -> UInt64 {
        let bytes = try parseSize(text)
        guard bytes >= minimumBytes else { throw .tooSmall(text) }
        var fs = statvfs()
        guard statvfs(directory, &fs) == 0 else { throw .system(operation: "statvfs", path: directory, errno: errno) }
        let available = UInt64(fs.f_bavail).multipliedReportingOverflow(by: UInt64(fs.f_frsize))
        guard available.overflow || bytes <= available.partialValue else {
            throw .tooLarge(text, available: available.partialValue)
        }
        return bytes
    }

    /// Creates `directory`/scratch.ext4: a sparse file of `bytes` with an empty ext4 in it (root's
    /// root directory, as the guest's overlay wants). Returns its path.
    public static func create(in directory: String, bytes: UInt64) throws(ScratchDiskError) -> String {
        let path = "\(directory)/\(fileName)"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system(operation: "create", path: path, errno: errno) }
        let truncated = ftruncate(fd, off_t(bytes)) == 0 ? 0 : errno
        close(fd)
        guard truncated == 0 else { throw .system(operation: "ftruncate", path: path, errno: truncated) }
        let argv = ["mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1",
                    "-L", "kiln-scratch", path, "\(bytes / 1024)k"]
        let status = try spawnAndWait(argv)
        guard status == 0 else { throw .mkfsFailed(path: path, status: status) }
        return path
    }

    /// Runs a tool found in PATH; returns its exit status (128+N for signal N).
    private static func spawnAndWait(_ argv: [String]) throws(ScratchDiskError) -> Int32 {
        let cArgv = argv.map { strdup($0) } + [nil]
        defer { cArgv.forEach { free($0) } }
        var pid: pid_t = 0
        let err = cArgv.withUnsafeBufferPointer { posix_spawnp(&pid, argv[0], nil, nil, $0.baseAddress!, environ) }
        guard err == 0 else { throw .system(operation: "run", path: argv[0], errno: err) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw .system(operation: "wait for", path: argv[0], errno: errno) }
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

public enum ScratchDiskError: Error, Equatable, Sendable, CustomStringConvertible {
    case badSize(String)
    case tooSmall(String)
    case tooLarge(String, available: UInt64)
    case system(operation: String, path: String, errno: Int32)
    case mkfsFailed(path: String, status: Int32)

    public var description: String {
        switch self {
        case .badSize(let text):
            "--disk-size \(text): expected a size such as 512M or 2G"
        case .tooSmall(let text):
            "--disk-size \(text): at least 64M"
        case let .tooLarge(text, available):
            "--disk-size \(text): more than the \(available >> 20) MiB free where the disk would go"
        case let .system(operation, path, errno):
            "scratch disk: \(operation) \(path): \(String(cString: strerror(errno)))"
        case let .mkfsFailed(path, status):
            "scratch disk: mkfs.ext4 \(path) failed (exit \(status)); is e2fsprogs installed?"
        }
    }
}
