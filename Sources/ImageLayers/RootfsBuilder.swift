// Builds a read-only ext4 root filesystem from OCI/Docker layer blobs without extracting
// anything on the host.
//
// Design: layer tarballs are hostile, and kiln may run unprivileged. Extracting on the host
// would need root for exact ownership, device nodes and security.* xattrs, and every path
// operation would be a chance to follow a planted symlink out of the build directory. Instead:
// 1. `LayerFlattener` reads every layer's headers (libarchive, tar only, in-process gzip/zstd)
//    and applies them, in order, to an in-memory tree: whiteouts and opaque directories
//    remove names there, symlinks are resolved there, so nothing is ever deleted from the image
//    and no host path is ever derived from an entry name.
// 2. mke2fs makes an empty ext4 file sized from the surviving tree; `ImageWriter` (libext2fs via
//    the CRootfsImage shim) creates every inode with its exact uid/gid/mode/xattrs/mtime as plain
//    data in the image, so root and unprivileged runs produce the same bytes.
// 3. The layers are read a second time to stream each surviving regular file's data straight
//    into its inode (never whole files in memory; layers with no surviving data are skipped).
// The only host files touched are the layer blobs (read) and `output` (created exclusively).
// Hostile entries (see LayerFlattener for the rules): `..` is refused, absolute paths and
// symlinks are resolved inside the image, hard links must name something already in the image,
// device nodes and FIFOs exist only as inodes in the image. Unprivileged runs are identical
// because ownership, modes and security.* xattrs are inode fields written by libext2fs.
#if canImport(Glibc)
import Glibc
#endif

/// One layer blob of an image, in application order.
public struct LayerBlob: Sendable {
    public let path: String
    public let mediaType: String
    public let digest: String

    public init(path: String, mediaType: String, digest: String) {
        self.path = path
        self.mediaType = mediaType
        self.digest = digest
    }
}

public enum RootfsBuilder {
    /// Builds a read-only ext4 root filesystem at `output` (must not exist) from the layers
    /// applied in order. Throws a typed error with a one-line description. `progress` hears of
    /// each layer read and of every `RootfsBuildProgress.dataStep` bytes of file data written.
    public static func build(layers: [LayerBlob], output: String,
                             progress: (RootfsBuildProgress) -> Void = { _ in }) throws(RootfsBuildError) {
        try build(layers: layers, output: output, firstAttemptKibibytes: nil, dataStep: RootfsBuildProgress.dataStep,
                  progress: progress)
    }

    /// `firstAttemptKibibytes` replaces the size estimate of the first attempt (tests force the
    /// retry); `dataStep` the bytes between data progress reports.
    static func build(layers: [LayerBlob], output: String, firstAttemptKibibytes: Int64?, dataStep: Int64 = RootfsBuildProgress.dataStep,
                      progress: (RootfsBuildProgress) -> Void = { _ in }) throws(RootfsBuildError) {
        let (root, layout) = try flatten(layers, progress: progress)
        try checkRoom(for: layout, output: output)

        let fd = open(output, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            throw code == EEXIST ? .outputExists(path: output) : .output(path: output, operation: "create", errno: code)
        }
        do throws(RootfsBuildError) {
            do {
                try write(layout, root: root, layers: layers, output: output,
                          kibibytes: firstAttemptKibibytes ?? layout.imageKibibytes, dataStep: dataStep, progress: progress)
            } catch .imageFull {
                // The estimate is content-based, so only odd layouts overflow it: start over once, twice as big.
                guard ftruncate(fd, 0) == 0 else { throw .output(path: output, operation: "truncate", errno: errno) }
                for node in layout.nodes { node.inode = 0 }
                try write(layout, root: root, layers: layers, output: output, kibibytes: layout.imageKibibytes * 2,
                          dataStep: dataStep, progress: progress)
            }
            // Read-only for everyone, durable before the store renames it into place.
            guard fchmod(fd, 0o444) == 0 else { throw .output(path: output, operation: "chmod", errno: errno) }
            guard fsync(fd) == 0 else { throw .output(path: output, operation: "fsync", errno: errno) }
            close(fd)
        } catch {
            close(fd)
            unlink(output)
            throw error
        }
    }

    /// Steps 1 and the sizing of 2 without writing anything: every check `build` makes on the
    /// layers' entries before mke2fs runs. For the layer fuzz target, which cannot afford
    /// mke2fs (a process) for every input and runs the whole build on a share of them.
    @_spi(Fuzzing)
    public static func plan(layers: [LayerBlob]) throws(RootfsBuildError) -> (inodes: Int64, kibibytes: Int64) {
        let (_, layout) = try flatten(layers, progress: { _ in })
        return (layout.inodeCount, layout.imageKibibytes)
    }

    private static func flatten(_ layers: [LayerBlob],
                                progress: (RootfsBuildProgress) -> Void) throws(RootfsBuildError) -> (TreeNode, ImageLayout) {
        // Refuse unknown media types before reading anything.
        for layer in layers where !LayerArchive.mediaTypes.contains(layer.mediaType) {
            throw .unsupportedMediaType(layer: layer.digest.isEmpty ? layer.path : layer.digest, mediaType: layer.mediaType)
        }
        var flattener = LayerFlattener()
        for (index, layer) in layers.enumerated() {
            progress(.readingLayer(index: index + 1, count: layers.count))
            var archive = try LayerArchive(layer)
            flattener.begin(layer: index, name: archive.layerName)
            while let entry = try archive.next() {
                try flattener.apply(entry)
            }
        }
        let root = flattener.root
        return (root, try ImageLayout(root: root))
    }

    private static func write(_ layout: borrowing ImageLayout, root: TreeNode, layers: [LayerBlob],
                              output: String, kibibytes: Int64, dataStep: Int64,
                              progress: (RootfsBuildProgress) -> Void) throws(RootfsBuildError) {
        try MakeFilesystem.run(path: output, kibibytes: kibibytes, inodes: layout.inodeCount)
        let writer = try ImageWriter(path: output)
        try writer.createTree(layout, root: root)

        var pending: [Int: [Int: (node: TreeNode, size: Int64)]] = [:]
        for node in layout.nodes {
            if case let .regular(source, size) = node.kind, size > 0 {
                pending[source.layer, default: [:]][source.ordinal] = (node, size)
            }
        }
        let total = pending.values.reduce(Int64(0)) { sum, files in files.values.reduce(sum) { $0 + $1.size } }
        var written: Int64 = 0, reported: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 4096)
        defer { buffer.deallocate() }
        for (index, layer) in layers.enumerated() {
            guard var wanted = pending[index] else { continue }
            var archive = try LayerArchive(layer)
            while !wanted.isEmpty, let entry = try archive.next() {
                guard let file = wanted.removeValue(forKey: entry.ordinal) else { continue }
                try writer.writeData(of: file.node, size: file.size, from: &archive, buffer: buffer)
                written += file.size
                if written - reported >= dataStep {
                    reported = written
                    progress(.writingData(written: written, total: total))
                }
            }
            guard wanted.isEmpty else {
                throw .unreadableLayer(layer: archive.layerName, reason: "changed between the two passes")
            }
        }
        if total > 0 && reported < total { progress(.writingData(written: total, total: total)) }
        let keptLostAndFound = root.children[Array("lost+found".utf8)] == nil
        try writer.setAttributes(layout, root: root, lostAndFoundKept: keptLostAndFound)
        try writer.finish()
    }

    /// The tree's size is known from the headers before a byte is written: an image (a layer
    /// bomb, say) that would not fit in the output's file system is refused up front instead of
    /// filling the disk the store lives on.
    static func checkRoom(for layout: ImageLayout, output: String) throws(RootfsBuildError) {
        let directory = output.lastIndex(of: "/").map { String(output[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        var space = statvfs()
        guard statvfs(directory, &space) == 0 else { return }
        let (free, overflow) = UInt64(space.f_bavail).multipliedReportingOverflow(by: UInt64(space.f_frsize))
        let needed = UInt64(max(0, layout.imageKibibytes)) * 1024
        guard overflow || needed <= free else {
            throw .tooLarge(reason: "the image needs \(needed >> 20) MiB and \(directory) has \(free >> 20) MiB free")
        }
    }
}
