#if canImport(Glibc)
import Glibc
#endif

/// OPEN, READ, RELEASE, OPENDIR, RELEASEDIR: readable descriptors for nodes.
extension FileServer {
    /// OPEN: regular files only, read-only. Device nodes, FIFOs and sockets are refused before
    /// anything is opened (their type comes from the node's O_PATH descriptor, which cannot
    /// change): opening one on the host could reach a host device (CVE-2020-35517) or block.
    func openFile(_ request: FuseRequest, _ out: inout FuseReply) throws(FuseErrno) {
        let flags = try request.argument(Int32.self, at: 0)
        let node = try nodes.node(request.nodeID)
        guard node.isRegular else {
            if node.isDirectory { throw .isDirectory }
            if node.isSymlink { throw FuseErrno(ELOOP) }
            throw .accessDenied
        }
        guard flags & O_ACCMODE == O_RDONLY, flags & O_TRUNC == 0 else { throw .readOnly }
        try out.reserve(FuseLayout.openOutSize)
        let fh = try handles.insert(try reopen(node), kind: .file)
        try out.append(fh)
        try out.append(UInt32(0))  // open_flags: the guest's page cache follows attr_valid
        try out.append(UInt32(0))
    }

    /// OPENDIR: a readable descriptor of the directory node itself.
    func openDirectory(_ request: FuseRequest, _ out: inout FuseReply) throws(FuseErrno) {
        // fuse_open_in: the flags only matter for being well-formed (a directory is read-only).
        _ = try request.argument(UInt32.self, at: 0)
        let node = try nodes.node(request.nodeID)
        guard node.isDirectory else { throw .notDirectory }
        try out.reserve(FuseLayout.openOutSize)
        let fh = try handles.insert(try reopen(node), kind: .directory, node: request.nodeID)
        try out.append(fh)
        try out.append(UInt64(0))
    }

    /// READ: at most `maxReadSize` bytes (and never more than the guest's buffers hold), at an
    /// offset that pread can take without overflow.
    func read(_ request: FuseRequest, _ out: inout FuseReply) throws(FuseErrno) {
        let fh = try request.argument(UInt64.self, at: 0)
        let offset = try request.argument(UInt64.self, at: 8)
        let size = Int(try request.argument(UInt32.self, at: 16))
        let fd = try handles.descriptor(fh, kind: .file).fd
        guard size <= limits.maxReadSize, offset <= UInt64(Int64.max - Int64(size)) else { throw .invalid }
        try out.reserve(size, or: .invalid)
        if let payload = directPayload, out.length == FuseLayout.outHeaderSize {
            // Straight into the guest's buffers: the data is the whole payload.
            out.commitDirect(try HostFiles.read(fd, into: payload, limit: size, at: Int64(offset)))
            return
        }
        let buffer = try out.tail(size, or: .invalid)
        out.commit(try HostFiles.read(fd, into: buffer, at: Int64(offset)))
    }

    /// RELEASE and RELEASEDIR: the handle and its descriptor go; an unknown handle is EBADF.
    func release(_ request: FuseRequest, kind: HandleTable.Kind) throws(FuseErrno) {
        try handles.remove(try request.argument(UInt64.self, at: 0), kind: kind)
    }

    /// A readable descriptor of `node`'s inode, opened beneath the tree again.
    ///
    /// A directory reopens itself ("." beneath its own descriptor: the same inode, whatever
    /// happened to its name). A regular file is reopened by name beneath its parent's
    /// descriptor, without following anything; if the name now holds another inode (renamed,
    /// replaced, a symlink or a directory swapped in), the open fails (ELOOP) or the identity
    /// check does (ESTALE), and the new descriptor is closed unread.
    func reopen(_ node: Node) throws(FuseErrno) -> Int32 {
        let fd: Int32
        if node.isDirectory {
            fd = try HostFiles.openForReading(".", in: node.fd, directoryOnly: true)
        } else {
            let parent = try nodes.node(node.parent)
            guard !node.name.isEmpty else { throw .stale }
            let opened = node.name.withUnsafeBytes { name in
                Result { () throws(FuseErrno) -> Int32 in
                    try HostFiles.openForReading(Self.cString(name), in: parent.fd, directoryOnly: false)
                }
            }
            fd = try opened.get()
        }
        do throws(FuseErrno) {
            let status = try HostFiles.status(fd)
            guard InodeKey(status) == node.key, UInt32(status.st_mode) & UInt32(S_IFMT) == node.type else {
                throw FuseErrno.stale
            }
        } catch {
            HostFiles.close(fd)
            throw error
        }
        return fd
    }
}
