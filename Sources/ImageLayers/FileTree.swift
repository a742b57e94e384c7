/// Where a regular file's bytes are: the entry `ordinal` of layer `layer`.
struct DataSource: Hashable {
    var layer: Int
    var ordinal: Int
}

/// One inode of the final image. A class because hard links are several names for one object.
final class TreeNode {
    enum Kind {
        case directory
        case regular(DataSource, size: Int64)
        case symlink(target: [UInt8])
        case characterDevice(major: UInt32, minor: UInt32)
        case blockDevice(major: UInt32, minor: UInt32)
        case fifo
    }

    var kind: Kind
    var permissions: UInt32
    var uid: UInt32
    var gid: UInt32
    var mtime: Int64
    var mtimeNanoseconds: UInt32
    var xattrs: [(name: [UInt8], value: [UInt8])]
    /// Names in the directory, each with the layer that last put it there (whiteouts and opaque
    /// directories hide only what lower layers put).
    var children: [[UInt8]: (node: TreeNode, layer: Int)] = [:]
    /// Layer and entry that defined this inode, for error messages from the write pass.
    var origin: String
    /// Set while writing: the ext4 inode number and how many names point at it.
    var inode: UInt32 = 0
    var names: UInt32 = 0

    init(kind: Kind, permissions: UInt32, uid: UInt32, gid: UInt32, mtime: Int64, mtimeNanoseconds: UInt32,
         xattrs: [(name: [UInt8], value: [UInt8])], origin: String) {
        self.kind = kind
        self.permissions = permissions
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
        self.mtimeNanoseconds = mtimeNanoseconds
        self.xattrs = xattrs
        self.origin = origin
    }

    var isDirectory: Bool { if case .directory = kind { true } else { false } }

    static func implicitDirectory(origin: String) -> TreeNode {
        TreeNode(kind: .directory, permissions: 0o755, uid: 0, gid: 0, mtime: 0, mtimeNanoseconds: 0,
                 xattrs: [], origin: origin)
    }
}
