import CArchive
#if canImport(Glibc)
import Glibc
#endif

/// What one tar header says, copied out of libarchive's entry so the reader can move on.
/// Names stay bytes: tar paths need not be UTF-8, and a repaired String would name another file.
struct ArchiveEntry {
    enum Kind { case regular, directory, symlink, characterDevice, blockDevice, fifo, socket, unknown(UInt32) }

    var ordinal: Int
    var path: [UInt8]
    var kind: Kind
    var hardlink: [UInt8]?
    var symlinkTarget: [UInt8]?
    var permissions: UInt32
    var uid: Int64
    var gid: Int64
    var size: Int64
    var mtime: Int64
    var mtimeNanoseconds: Int64
    var deviceMajor: UInt
    var deviceMinor: UInt
    var xattrs: [(name: [UInt8], value: [UInt8])]

    var displayPath: String { String(decoding: path, as: UTF8.self) }
}

/// One layer blob opened for sequential reading with libarchive (tar only; gzip, zstd or none).
/// Owns the archive handle: the handle is freed exactly once, when the reader goes away.
struct LayerArchive: ~Copyable {
    private let handle: OpaquePointer
    let layerName: String
    private var ordinal = 0

    static let mediaTypes: Set<String> = [
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
    ]

    init(_ layer: LayerBlob) throws(RootfsBuildError) {
        layerName = layer.digest.isEmpty ? layer.path : layer.digest
        guard Self.mediaTypes.contains(layer.mediaType) else {
            throw .unsupportedMediaType(layer: layerName, mediaType: layer.mediaType)
        }
        handle = try Self.open(layer.path, layerName: layerName)
    }

    private static func open(_ path: String, layerName: String) throws(RootfsBuildError) -> OpaquePointer {
        guard let archive = archive_read_new() else {
            throw .unreadableLayer(layer: layerName, reason: "out of memory")
        }
        // Compression is sniffed rather than trusted from the media type (docker-archive layers are
        // often plain tar under a gzip type), but only in-process decoders are allowed: libarchive
        // falls back to running an external program for some filters (ARCHIVE_WARN), and hostile
        // input must never start a host process.
        for enable in [archive_read_support_filter_gzip, archive_read_support_filter_zstd] {
            guard enable(archive) == ARCHIVE_OK else {
                archive_read_free(archive)
                throw .unreadableLayer(layer: layerName, reason: "libarchive lacks a built-in gzip/zstd decoder")
            }
        }
        guard archive_read_support_format_tar(archive) == ARCHIVE_OK,
              archive_read_open_filename(archive, path, 1 << 20) == ARCHIVE_OK else {
            let reason = archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
            archive_read_free(archive)
            throw .unreadableLayer(layer: layerName, reason: reason)
        }
        return archive
    }

    deinit { archive_read_free(handle) }

    private var errorString: String {
        archive_error_string(handle).map { String(cString: $0) } ?? "unknown libarchive error"
    }

    /// The next header, or nil at the end of the archive. The previous entry's unread data is skipped.
    mutating func next() throws(RootfsBuildError) -> ArchiveEntry? {
        var entryPointer: OpaquePointer?
        let status = archive_read_next_header(handle, &entryPointer)
        if status == ARCHIVE_EOF { return nil }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry = entryPointer else {
            throw .unreadableLayer(layer: layerName, reason: "entry #\(ordinal): \(errorString)")
        }
        defer { ordinal += 1 }
        guard let pathname = archive_entry_pathname(entry) else {
            throw .unreadableLayer(layer: layerName, reason: "entry #\(ordinal) has no path")
        }
        let kind: ArchiveEntry.Kind
        switch UInt32(archive_entry_filetype(entry)) {
        case 0o100000: kind = .regular
        case 0o040000: kind = .directory
        case 0o120000: kind = .symlink
        case 0o020000: kind = .characterDevice
        case 0o060000: kind = .blockDevice
        case 0o010000: kind = .fifo
        case 0o140000: kind = .socket
        case let other: kind = .unknown(other)
        }
        var xattrs: [(name: [UInt8], value: [UInt8])] = []
        if archive_entry_xattr_reset(entry) > 0 {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var length = 0
            while archive_entry_xattr_next(entry, &name, &value, &length) == ARCHIVE_OK {
                guard let name else { continue }
                let data = value.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
                xattrs.append((name: bytes(ofCString: name), value: data))
            }
        }
        return ArchiveEntry(
            ordinal: ordinal,
            path: bytes(ofCString: pathname),
            kind: kind,
            hardlink: archive_entry_hardlink(entry).map(bytes(ofCString:)),
            symlinkTarget: archive_entry_symlink(entry).map(bytes(ofCString:)),
            permissions: UInt32(archive_entry_perm(entry)) & 0o7777,
            uid: archive_entry_uid(entry),
            gid: archive_entry_gid(entry),
            size: archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : 0,
            mtime: archive_entry_mtime_is_set(entry) != 0 ? Int64(archive_entry_mtime(entry)) : 0,
            mtimeNanoseconds: archive_entry_mtime_is_set(entry) != 0 ? Int64(archive_entry_mtime_nsec(entry)) : 0,
            deviceMajor: UInt(archive_entry_rdevmajor(entry)),
            deviceMinor: UInt(archive_entry_rdevminor(entry)),
            xattrs: xattrs)
    }

    /// Reads the current entry's data into `buffer`; 0 at its end.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(RootfsBuildError) -> Int {
        let count = archive_read_data(handle, buffer.baseAddress, buffer.count)
        guard count >= 0 else {
            throw .unreadableLayer(layer: layerName, reason: "entry #\(ordinal - 1) data: \(errorString)")
        }
        return count
    }
}

private func bytes(ofCString pointer: UnsafePointer<CChar>) -> [UInt8] {
    let length = strlen(pointer)
    return pointer.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
}
