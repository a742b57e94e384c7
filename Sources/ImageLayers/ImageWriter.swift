import CRootfsImage

/// Second pass: writes the flattened tree into the ext4 image through libext2fs. Owns the open
/// file system; `discard` or `finish` releases it exactly once.
struct ImageWriter: ~Copyable {
    private let image: OpaquePointer
    private let path: String
    private var released = false

    init(path: String) throws(RootfsBuildError) {
        var handle: OpaquePointer?
        let status = rootfs_image_open(path, &handle)
        guard status == 0, let handle else {
            throw .image(entry: "/", operation: "open \(path)", reason: Self.message(status))
        }
        image = handle
        self.path = path
    }

    deinit { if !released { rootfs_image_discard(image) } }

    static func message(_ code: Int) -> String {
        rootfs_image_error_message(code).map { String(cString: $0) } ?? "error \(code)"
    }

    private func check(_ status: Int, _ node: TreeNode, _ operation: String) throws(RootfsBuildError) {
        guard status == 0 else { throw Self.failure(status, node.origin, operation) }
    }

    private static func failure(_ status: Int, _ entry: String, _ operation: String) -> RootfsBuildError {
        rootfs_image_error_is_full(status) != 0 ? .imageFull(entry: entry)
                                                : .image(entry: entry, operation: operation, reason: message(status))
    }

    /// Creates every name: directories before their contents, a hard link once its inode exists.
    func createTree(_ layout: borrowing ImageLayout, root: TreeNode) throws(RootfsBuildError) {
        root.inode = rootfs_image_root_ino()
        for (parent, name, node) in layout.links {
            try withCString(name) { (cName) throws(RootfsBuildError) in
                if node.inode != 0 {
                    try check(rootfs_image_link(image, parent.inode, cName, node.inode, Self.typeBits(node)), node, "link")
                    return
                }
                if parent === root, name == Array("lost+found".utf8) {
                    // mke2fs made /lost+found; an image's own one takes that inode over.
                    guard node.isDirectory else {
                        throw .image(entry: node.origin, operation: "create", reason: "/lost+found must be a directory")
                    }
                    var existing: UInt32 = 0
                    try check(rootfs_image_lookup(image, parent.inode, cName, &existing), node, "lookup")
                    node.inode = existing
                    return
                }
                var major: UInt32 = 0, minor: UInt32 = 0
                switch node.kind {
                case let .characterDevice(a, b), let .blockDevice(a, b): (major, minor) = (a, b)
                default: break
                }
                var inode: UInt32 = 0
                try check(rootfs_image_create(image, parent.inode, cName, Self.typeBits(node), major, minor, &inode),
                          node, "create")
                node.inode = inode
                if case let .symlink(target) = node.kind {
                    try check(target.withUnsafeBytes { rootfs_image_write_symlink(image, inode, $0.baseAddress, $0.count) },
                              node, "write symlink")
                }
            }
        }
    }

    /// Final metadata, after links and data (either would otherwise touch times and counts).
    func setAttributes(_ layout: borrowing ImageLayout, root: TreeNode, lostAndFoundKept: Bool) throws(RootfsBuildError) {
        for node in layout.nodes {
            var links = node.names
            if node.isDirectory {
                // "." and the parent's entry, plus each subdirectory's "..".
                links = 2 + UInt32(node.children.values.reduce(0) { $0 + ($1.node.isDirectory ? 1 : 0) })
                if node === root, lostAndFoundKept { links += 1 }
                // Past ext4's 65000 limit, dir_nlink records "many" as 1, as the kernel does.
                if links >= 65000 { links = 1 }
            }
            try check(rootfs_image_set_attributes(image, node.inode, Self.typeBits(node) | node.permissions,
                                                  node.uid, node.gid, node.mtime, node.mtimeNanoseconds, links),
                      node, "set attributes")
            for xattr in node.xattrs {
                let status = withCString(xattr.name) { cName in
                    xattr.value.withUnsafeBytes { rootfs_image_set_xattr(image, node.inode, cName, $0.baseAddress, $0.count) }
                }
                try check(status, node, "set xattr \(String(decoding: xattr.name, as: UTF8.self))")
            }
        }
    }

    /// Streams one regular file's data from the archive positioned at its entry.
    func writeData(of node: TreeNode, size: Int64, from archive: inout LayerArchive,
                   buffer: UnsafeMutableRawBufferPointer) throws(RootfsBuildError) {
        var file: OpaquePointer?
        try check(rootfs_image_file_open(image, node.inode, &file), node, "open")
        guard let file else { return }
        var written: Int64 = 0
        var failure: RootfsBuildError?
        while failure == nil {
            let count: Int
            do { count = try archive.read(into: buffer) } catch { failure = error; break }
            if count == 0 { break }
            written += Int64(count)
            guard written <= size else { break }
            let status = rootfs_image_file_write(file, buffer.baseAddress, count)
            if status != 0 { failure = Self.failure(status, node.origin, "write") }
        }
        let closed = rootfs_image_file_close(file)
        if let failure { throw failure }
        try check(closed, node, "close")
        guard written == size else {
            throw .image(entry: node.origin, operation: "write",
                         reason: "archive holds \(written) bytes of data, header says \(size)")
        }
    }

    consuming func finish() throws(RootfsBuildError) {
        released = true
        let status = rootfs_image_close(image)
        guard status == 0 else { throw .image(entry: "/", operation: "close \(path)", reason: Self.message(status)) }
    }

    static func typeBits(_ node: TreeNode) -> UInt32 {
        switch node.kind {
        case .directory: 0o040000
        case .regular: 0o100000
        case .symlink: 0o120000
        case .characterDevice: 0o020000
        case .blockDevice: 0o060000
        case .fifo: 0o010000
        }
    }
}

/// `name` as a NUL-terminated C string (tar names cannot contain NUL, so none is inside).
func withCString<R, E: Error>(_ name: [UInt8], _ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
    var terminated = name
    terminated.append(0)
    return try terminated.withUnsafeBufferPointer { (buffer) throws(E) -> R in
        try buffer.withMemoryRebound(to: CChar.self) { (chars) throws(E) -> R in try body(chars.baseAddress!) }
    }
}
