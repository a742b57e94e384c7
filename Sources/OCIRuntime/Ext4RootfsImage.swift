import Glibc
import SandboxHost

/// The working fallback rootfs: `mke2fs -t ext4 -d ROOTFS` into a sparse image in the state
/// directory. mke2fs reads the tree without following its symbolic links (a link is copied as
/// a link), so a hostile rootfs cannot pull host files into the image through one.
public struct Ext4RootfsImage: RootfsSource {
    public static let imageName = "rootfs.ext4"
    /// Headroom over the data for ext4's metadata and journal-less bookkeeping.
    static let slackBytes: UInt64 = 64 << 20
    /// A rootfs larger than this is refused rather than copied (use virtio-fs for such).
    public static let maximumBytes: UInt64 = 64 << 30

    public let mke2fs: String

    public init(mke2fs: String = Ext4RootfsImage.findMke2fs()) { self.mke2fs = mke2fs }

    public static func findMke2fs() -> String {
        ["/usr/sbin/mke2fs", "/sbin/mke2fs", "/usr/bin/mke2fs"].first { access($0, X_OK) == 0 } ?? "mke2fs"
    }

    public func prepare(rootfs: String, in directory: RunDirectory) throws(OCIRuntimeError) -> PreparedRootfs {
        let usage = try TreeUsage.measure(rootfs, limit: Self.maximumBytes)
        // Each inode gets room for its data rounded to 4 KiB plus its own 256-byte inode,
        // then a quarter more: mke2fs -d fails on a full file system, not gracefully.
        let data = usage.bytes + UInt64(usage.entries) * 4096
        let size = (data + data / 4 + Self.slackBytes + 0xFFFFF) & ~UInt64(0xFFFFF)
        let image = directory.file(Self.imageName)
        let inodes = max(UInt64(usage.entries) * 2 + 1024, 16384)
        let argv = [mke2fs, "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-N", "\(inodes)", "-E", "root_owner=0:0",
                    "-d", rootfs, image, "\(size / 1024)k"]
        let log = directory.file("mke2fs.log")
        let status = try HostCommand.run(argv, output: log)
        guard status == 0 else {
            let tail = FileText.read(log, limit: 2000)?.split(separator: "\n").last.map(String.init) ?? ""
            throw .failed("mke2fs -d \(rootfs) exited with status \(status)\(tail.isEmpty ? "" : ": \(tail)")")
        }
        return .blockImage(path: image)
    }
}

/// Bytes and entries under a directory tree, walked relative to descriptors without following
/// links and without crossing into other file systems, with limits on depth and size.
struct TreeUsage {
    var bytes: UInt64 = 0
    var entries = 0

    static let maximumDepth = 256
    static let maximumEntries = 4_000_000

    static func measure(_ path: String, limit: UInt64) throws(OCIRuntimeError) -> TreeUsage {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .system(operation: "open rootfs", path: path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { close(fd); throw .system(operation: "fstat", path: path, errno: errno) }
        var usage = TreeUsage()
        try usage.walk(fd, device: info.st_dev, depth: 0, path: path, limit: limit)   // closes fd
        return usage
    }

    /// Takes ownership of `fd`.
    private mutating func walk(_ fd: Int32, device: dev_t, depth: Int, path: String, limit: UInt64) throws(OCIRuntimeError) {
        guard let dir = fdopendir(fd) else { close(fd); throw .system(operation: "fdopendir", path: path, errno: errno) }
        defer { closedir(dir) }
        guard depth < Self.maximumDepth else { throw .failed("\(path): nested deeper than \(Self.maximumDepth) directories") }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            entries += 1
            guard entries <= Self.maximumEntries else { throw .failed("\(path): more than \(Self.maximumEntries) files") }
            var info = stat()
            guard fstatat(dirfd(dir), name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            bytes += UInt64(max(0, info.st_size))
            guard bytes <= limit else { throw .failed("the rootfs holds more than \(limit >> 30) GiB") }
            if (info.st_mode & S_IFMT) == S_IFDIR && info.st_dev == device {
                let child = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child >= 0 { try walk(child, device: device, depth: depth + 1, path: "\(path)/\(name)", limit: limit) }
            }
        }
    }
}
