#if canImport(Glibc)
import Glibc
#endif

/// STATFS, GETXATTR, LISTXATTR.
extension FileServer {
    /// STATFS: the host file system holding the node, as fuse_kstatfs.
    func statfs(_ request: FuseRequest, _ out: inout FuseReply) throws(FuseErrno) {
        let node = try nodes.node(request.nodeID)
        try out.reserve(FuseLayout.statfsOutSize)
        let status = try HostFiles.fileSystemStatus(node.fd)
        try out.append(status.blocks)
        try out.append(status.bfree)
        try out.append(status.bavail)
        try out.append(status.files)
        try out.append(status.ffree)
        try out.append(UInt32(clamping: status.bsize))
        try out.append(UInt32(clamping: status.namelen))
        try out.append(UInt32(clamping: status.frsize))
        try out.appendZeros(4 + 6 * 4)  // padding, spare[6]
    }

    /// GETXATTR (fuse_getxattr_in: size u32, padding u32, then the name): size 0 asks for the
    /// value's length; otherwise the value, ERANGE if it is longer than `size`.
    func getxattr(_ request: FuseRequest, _ out: inout FuseReply) throws(FuseErrno) {
        let size = Int(try request.argument(UInt32.self, at: 0))
        let name = try request.trailingName(at: 8)
        guard !name.isEmpty else { throw .invalid }
        guard name.count <= FuseLayout.nameMax else { throw .range }
        let fd = try attributeDescriptor(request.nodeID, missing: .noData)
        defer { HostFiles.close(fd) }
        try answerAttributeQuery(size: size, &out) { buffer throws(FuseErrno) in
            try HostFiles.extendedAttribute(fd, name: Self.cString(name), into: buffer)
        }
    }

    /// LISTXATTR (fuse_getxattr_in): the NUL-separated names, or their length for size 0.
    func listxattr(_ request: FuseRequest, _ out: inout FuseReply) throws(FuseErrno) {
        let size = Int(try request.argument(UInt32.self, at: 0))
        let node = try nodes.node(request.nodeID)
        guard node.isRegular || node.isDirectory else {
            // Links and special files: the server reads xattrs only through files it may open.
            try answerAttributeQuery(size: size, &out) { _ throws(FuseErrno) in 0 }
            return
        }
        let fd = try attributeDescriptor(request.nodeID, missing: .noData)
        defer { HostFiles.close(fd) }
        try answerAttributeQuery(size: size, &out) { buffer throws(FuseErrno) in
            try HostFiles.extendedAttributeNames(fd, into: buffer)
        }
    }

    /// A readable descriptor for a node's xattrs: an O_PATH descriptor cannot read them, so
    /// regular files and directories are reopened; anything else has none to show (`missing`).
    private func attributeDescriptor(_ id: UInt64, missing: FuseErrno) throws(FuseErrno) -> Int32 {
        let node = try nodes.node(id)
        guard node.isRegular || node.isDirectory else { throw missing }
        return try reopen(node)
    }

    private func answerAttributeQuery(size: Int, _ out: inout FuseReply,
                                      _ query: (UnsafeMutableRawBufferPointer) throws(FuseErrno) -> Int) throws(FuseErrno) {
        if size == 0 {
            try out.reserve(FuseLayout.getxattrOutSize)
            let length = try query(UnsafeMutableRawBufferPointer(start: nil, count: 0))
            try out.append(UInt32(clamping: length))
            try out.append(UInt32(0))
            return
        }
        let buffer = try out.tail(min(size, FuseLayout.xattrSizeMax), or: .range)
        out.commit(try query(buffer))
    }
}
