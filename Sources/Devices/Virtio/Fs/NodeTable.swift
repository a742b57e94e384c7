#if canImport(Glibc)
import Glibc
#endif

/// A host inode: the same file reached by two names (a hard link) is one node.
struct InodeKey: Hashable {
    let device: UInt64
    let inode: UInt64

    init(_ status: stat) {
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }
}

/// One inode the guest knows by node id: an O_PATH descriptor and the kernel's lookup count.
struct Node {
    let fd: Int32
    let key: InodeKey
    /// `st_mode & S_IFMT`: an inode's type never changes, so checks against it cannot race.
    let type: UInt32
    var lookups: UInt64
    /// Where a regular file was last found: an O_PATH descriptor cannot be read, and without
    /// /proc (the jail has none) the only way to a readable one is through the parent again.
    var parent: UInt64
    /// That name, NUL-terminated (empty for anything but a regular file).
    var name: [UInt8]

    var isDirectory: Bool { type == UInt32(S_IFDIR) }
    var isRegular: Bool { type == UInt32(S_IFREG) }
    var isSymlink: Bool { type == UInt32(S_IFLNK) }
}

/// Node ids to host inodes, bounded: at most `capacity` nodes (each holds a descriptor),
/// ENFILE beyond. Ids are never reused, so a stale id from the guest (a node it forgot, or one
/// it made up) can only miss, never reach another file.
struct NodeTable {
    let capacity: Int
    private var nodes: [UInt64: Node] = [:]
    private var byInode: [InodeKey: UInt64] = [:]
    private var nextID = FuseLayout.rootNode + 1

    /// Takes `rootFD` (an O_PATH descriptor of the shared directory) as node 1.
    init(rootFD: Int32, root: stat, capacity: Int) {
        self.capacity = capacity
        let key = InodeKey(root)
        nodes[FuseLayout.rootNode] = Node(fd: rootFD, key: key, type: UInt32(root.st_mode) & UInt32(S_IFMT),
                                           lookups: 1, parent: 0, name: [])
        byInode[key] = FuseLayout.rootNode
    }

    /// Nodes held, the root included.
    var count: Int { nodes.count }

    func node(_ id: UInt64) throws(FuseErrno) -> Node {
        guard let node = nodes[id] else { throw .stale }
        return node
    }

    /// Counts one more guest lookup of the inode behind `fd` (found as `name` in `parent`):
    /// an existing node if the inode has one, else a new node that owns `fd`. `fd` is closed
    /// whenever it is not kept, so the caller never has to.
    mutating func reference(fd: Int32, status: stat, parent: UInt64,
                            name: UnsafeRawBufferPointer) throws(FuseErrno) -> UInt64 {
        let key = InodeKey(status)
        if let id = byInode[key] {
            HostFiles.close(fd)
            nodes[id]!.lookups = nodes[id]!.lookups == .max ? .max : nodes[id]!.lookups + 1
            if nodes[id]!.isRegular, id != FuseLayout.rootNode { nodes[id]!.remember(parent: parent, name: name) }
            return id
        }
        guard nodes.count < capacity else {
            HostFiles.close(fd)
            throw .tooManyNodes
        }
        let id = nextID
        nextID += 1
        var node = Node(fd: fd, key: key, type: UInt32(status.st_mode) & UInt32(S_IFMT), lookups: 1,
                        parent: parent, name: [])
        if node.isRegular { node.remember(parent: parent, name: name) }
        nodes[id] = node
        byInode[key] = id
        return id
    }

    /// The guest dropped `count` lookups of `id`; at zero the node and its descriptor go. An
    /// unknown id is ignored (FORGET has no reply), and the root is never forgotten.
    mutating func forget(_ id: UInt64, count: UInt64) {
        guard id != FuseLayout.rootNode, var node = nodes[id] else { return }
        node.lookups -= min(count, node.lookups)
        if node.lookups > 0 {
            nodes[id] = node
            return
        }
        nodes[id] = nil
        byInode[node.key] = nil
        HostFiles.close(node.fd)
    }

    /// Forgets every node but the root (DESTROY, or the device going away).
    mutating func removeAll(keepingRoot: Bool) {
        for (id, node) in nodes where !(keepingRoot && id == FuseLayout.rootNode) {
            HostFiles.close(node.fd)
            nodes[id] = nil
            byInode[node.key] = nil
        }
    }
}

extension Node {
    fileprivate mutating func remember(parent: UInt64, name: UnsafeRawBufferPointer) {
        self.parent = parent
        // Allocates only when the name changes: a regular file found again under the same
        // name (the common case) keeps its bytes.
        if self.name.count == name.count + 1, self.name.withUnsafeBytes({ $0.starts(with: name) }) { return }
        self.name = Array(name) + [0]
    }
}
