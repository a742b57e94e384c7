/// FUSE requests as a guest kernel writes them, and replies as it reads them (linux/fuse.h),
/// for tests of the virtio-fs server. Any field can be wrong on purpose: tests build hostile
/// requests with the same helpers.
public enum FuseMessage {
    /// Opcodes, numbered as in `enum fuse_opcode`.
    public enum Opcode: UInt32, CaseIterable, Sendable {
        case lookup = 1, forget = 2, getattr = 3, setattr = 4, readlink = 5, symlink = 6
        case mknod = 8, mkdir = 9, unlink = 10, rmdir = 11, rename = 12, link = 13
        case open = 14, read = 15, write = 16, statfs = 17, release = 18, fsync = 20
        case setxattr = 21, getxattr = 22, listxattr = 23, removexattr = 24, flush = 25
        case initialize = 26, opendir = 27, readdir = 28, releasedir = 29, fsyncdir = 30
        case getlk = 31, setlk = 32, setlkw = 33, access = 34, create = 35, interrupt = 36
        case bmap = 37, destroy = 38, ioctl = 39, poll = 40, notifyReply = 41, batchForget = 42
        case fallocate = 43, readdirplus = 44, rename2 = 45, lseek = 46, copyFileRange = 47
        case setupMapping = 48, removeMapping = 49, syncfs = 50, tmpfile = 51
    }

    public static let rootNode: UInt64 = 1

    /// fuse_in_header + `arguments`; `length` overrides the header's len field.
    public static func request(_ opcode: Opcode, unique: UInt64 = 1, node: UInt64 = rootNode,
                               arguments: [UInt8] = [], length: UInt32? = nil) -> [UInt8] {
        request(rawOpcode: opcode.rawValue, unique: unique, node: node, arguments: arguments, length: length)
    }

    public static func request(rawOpcode: UInt32, unique: UInt64 = 1, node: UInt64 = rootNode,
                               arguments: [UInt8] = [], length: UInt32? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        append(length ?? UInt32(40 + arguments.count), to: &bytes)
        append(rawOpcode, to: &bytes)
        append(unique, to: &bytes)
        append(node, to: &bytes)
        append(UInt32(0), to: &bytes)  // uid
        append(UInt32(0), to: &bytes)  // gid
        append(UInt32(1), to: &bytes)  // pid
        append(UInt16(0), to: &bytes)  // total_extlen
        append(UInt16(0), to: &bytes)
        return bytes + arguments
    }

    /// fuse_init_in (the 64-byte form of 7.36+).
    public static func initArguments(major: UInt32 = 7, minor: UInt32 = 38, maxReadahead: UInt32 = 128 * 1024,
                                     flags: UInt32 = 0xFFFF_FFFF) -> [UInt8] {
        var bytes: [UInt8] = []
        for value in [major, minor, maxReadahead, flags, 0] { append(value, to: &bytes) }
        return bytes + [UInt8](repeating: 0, count: 44)
    }

    /// A name as LOOKUP carries it: its bytes and a NUL.
    public static func name(_ name: String) -> [UInt8] { Array(name.utf8) + [0] }

    /// fuse_read_in (READ, READDIR, READDIRPLUS).
    public static func readArguments(handle: UInt64, offset: UInt64, size: UInt32) -> [UInt8] {
        var bytes: [UInt8] = []
        append(handle, to: &bytes)
        append(offset, to: &bytes)
        append(size, to: &bytes)
        append(UInt32(0), to: &bytes)
        append(UInt64(0), to: &bytes)
        append(UInt64(0), to: &bytes)
        return bytes
    }

    /// fuse_open_in.
    public static func openArguments(flags: UInt32) -> [UInt8] {
        var bytes: [UInt8] = []
        append(flags, to: &bytes)
        append(UInt32(0), to: &bytes)
        return bytes
    }

    /// fuse_release_in.
    public static func releaseArguments(handle: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        append(handle, to: &bytes)
        append(UInt64(0), to: &bytes)
        append(UInt64(0), to: &bytes)
        return bytes
    }

    /// fuse_getxattr_in + name (GETXATTR); LISTXATTR takes `xattrArguments(size:)` alone.
    public static func xattrArguments(size: UInt32, name: String? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        append(size, to: &bytes)
        append(UInt32(0), to: &bytes)
        return bytes + (name.map { Self.name($0) } ?? [])
    }

    public static func forgetArguments(lookups: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        append(lookups, to: &bytes)
        return bytes
    }

    /// fuse_batch_forget_in with `count` (which may lie) and the entries given.
    public static func batchForgetArguments(count: UInt32, entries: [(node: UInt64, lookups: UInt64)]) -> [UInt8] {
        var bytes: [UInt8] = []
        append(count, to: &bytes)
        append(UInt32(0), to: &bytes)
        for entry in entries {
            append(entry.node, to: &bytes)
            append(entry.lookups, to: &bytes)
        }
        return bytes
    }

    public static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
}

/// A reply as the guest reads it back: fuse_out_header, then the payload.
public struct FuseAnswer: Sendable, CustomStringConvertible {
    /// The used length the device reported.
    public let used: UInt32
    /// The bytes the device wrote (the first `used` bytes of the writable buffers).
    public let bytes: [UInt8]

    public init(used: UInt32, bytes: [UInt8]) {
        self.used = used
        self.bytes = bytes
    }

    public var hasHeader: Bool { bytes.count >= 16 }
    public var length: UInt32 { u32(0, in: bytes) }
    /// `-errno`, or 0.
    public var error: Int32 { Int32(bitPattern: u32(4, in: bytes)) }
    public var unique: UInt64 { u64(8, in: bytes) }
    public var payload: [UInt8] { Array(bytes.dropFirst(16)) }

    public func payloadU32(_ offset: Int) -> UInt32 { u32(16 + offset, in: bytes) }
    public func payloadU64(_ offset: Int) -> UInt64 { u64(16 + offset, in: bytes) }

    // fuse_entry_out / fuse_attr_out fields.
    public var nodeID: UInt64 { payloadU64(0) }
    /// fuse_attr inside fuse_entry_out (at 40) or fuse_attr_out (at 16).
    public func attribute(_ field: FuseAttributeField, entry: Bool = true) -> UInt64 {
        let base = entry ? 40 : 16
        return field.isWide ? payloadU64(base + field.offset) : UInt64(payloadU32(base + field.offset))
    }

    public var description: String { "used \(used), error \(hasHeader ? error : 0), \(bytes.count) bytes" }

    private func u32(_ offset: Int, in bytes: [UInt8]) -> UInt32 {
        guard offset + 4 <= bytes.count else { return 0 }
        return (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    private func u64(_ offset: Int, in bytes: [UInt8]) -> UInt64 {
        guard offset + 8 <= bytes.count else { return 0 }
        return (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }
}

/// Fields of fuse_attr and their offsets.
public enum FuseAttributeField: Sendable {
    case inode, size, blocks, mode, nlink, uid, gid, rdev

    var offset: Int {
        switch self {
        case .inode: 0
        case .size: 8
        case .blocks: 16
        case .mode: 60
        case .nlink: 64
        case .uid: 68
        case .gid: 72
        case .rdev: 76
        }
    }

    var isWide: Bool { offset < 48 }
}

/// One entry of a READDIR or READDIRPLUS reply.
public struct FuseDirectoryEntry: Equatable, Sendable {
    public var name: String
    public var inode: UInt64
    public var offset: UInt64
    public var type: UInt32
    /// READDIRPLUS only: the node id (0: not looked up) and mode from the entry's attributes.
    public var nodeID: UInt64
    public var mode: UInt32

    /// Parses a READDIR (`plus` false) or READDIRPLUS payload.
    public static func parse(_ payload: [UInt8], plus: Bool) -> [FuseDirectoryEntry] {
        var entries: [FuseDirectoryEntry] = []
        var position = 0
        let answer = FuseAnswer(used: 0, bytes: [UInt8](repeating: 0, count: 16) + payload)
        while true {
            let direntStart = position + (plus ? 128 : 0)
            guard direntStart + 24 <= payload.count else { break }
            let nameLength = Int(answer.payloadU32(direntStart + 16))
            guard direntStart + 24 + nameLength <= payload.count else { break }
            entries.append(FuseDirectoryEntry(
                name: String(decoding: payload[(direntStart + 24)..<(direntStart + 24 + nameLength)], as: UTF8.self),
                inode: answer.payloadU64(direntStart),
                offset: answer.payloadU64(direntStart + 8),
                type: answer.payloadU32(direntStart + 20),
                nodeID: plus ? answer.payloadU64(position) : 0,
                mode: plus ? answer.payloadU32(position + 40 + 60) : 0))
            position = (direntStart + 24 + nameLength + 7) & ~7
        }
        return entries
    }
}
