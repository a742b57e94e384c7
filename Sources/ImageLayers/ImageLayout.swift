/// The surviving tree in the order it is written, with what the image needs to hold it.
/// Walks iteratively: a hostile archive may nest directories deeper than any stack.
struct ImageLayout {
    static let blockSize: Int64 = 4096

    /// Every (directory, name, node) in parent-before-child order, names sorted for reproducibility.
    var links: [(parent: TreeNode, name: [UInt8], node: TreeNode)] = []
    /// Each inode once, root first.
    var nodes: [TreeNode] = []
    var blocks: Int64 = 0

    init(root: TreeNode) throws(RootfsBuildError) {
        nodes.append(root)
        root.names = 1
        var work = [root]
        var blocks: Int64 = 0
        while let directory = work.popLast() {
            var entryBytes: Int64 = 24
            for name in directory.children.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                guard let node = directory.children[name]?.node else { continue }
                links.append((directory, name, node))
                // An ext4 dirent: 8 bytes of header and the name padded to 4.
                entryBytes += 8 + (Int64(name.count) + 3) / 4 * 4
                node.names += 1
                if node.names > 1 { continue }
                nodes.append(node)
                blocks = try Self.add(blocks, Self.dataBlocks(of: node))
                if node.isDirectory { work.append(node) }
            }
            // A block keeps 12 bytes for its checksum tail; packing is never perfect.
            blocks = try Self.add(blocks, entryBytes / (Self.blockSize - 512) + 1)
        }
        guard nodes.count < Int(UInt32.max / 2) else { throw .tooLarge(reason: "\(nodes.count) inodes") }
        for node in nodes where node.names > 65000 && !node.isDirectory {
            throw .tooLarge(reason: "\(node.origin): more than 65000 hard links")
        }
        self.blocks = blocks
    }

    private static func add(_ a: Int64, _ b: Int64) throws(RootfsBuildError) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        guard !overflow, sum < 1 << 40 else { throw .tooLarge(reason: "more than 2^40 blocks") }
        return sum
    }

    private static func dataBlocks(of node: TreeNode) throws(RootfsBuildError) -> Int64 {
        var blocks: Int64 = 0
        switch node.kind {
        case let .regular(_, size):
            let data = size / blockSize + (size % blockSize == 0 ? 0 : 1)
            // Beyond four extents the extent tree needs blocks of its own.
            blocks = data + (data > 64 ? 1 + data / 32768 : 0)
        case let .symlink(target):
            blocks = target.count < 60 ? 0 : 1
        default:
            blocks = 0
        }
        // What does not fit the 256-byte inode's ~100 spare bytes goes to an xattr block.
        let xattrBytes = node.xattrs.reduce(0) { $0 + 20 + $1.name.count + $1.value.count }
        return blocks + (xattrBytes > 96 ? 1 : 0)
    }

    /// mke2fs's size argument in KiB, from the content plus 20% and a fixed allowance for the
    /// group metadata and inode tables.
    var imageKibibytes: Int64 {
        let inodeTableBlocks = (Int64(nodes.count) + 64) * 256 / Self.blockSize + 1
        let total = blocks + blocks / 5 + inodeTableBlocks + inodeTableBlocks / 5 + 2048
        return max(total * 4, 8 * 1024)
    }

    var inodeCount: Int64 { max(Int64(nodes.count) + Int64(nodes.count) / 10 + 64, 1024) }
}
