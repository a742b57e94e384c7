#if canImport(Glibc)
import Glibc
#endif

/// LOOKUP, GETATTR, READLINK: nodes and what they are.
extension FileServer {
    var timeout: UInt64 { limits.cacheTimeoutSeconds }

    /// LOOKUP: one name beneath a directory node; counts one lookup of the node it returns.
    func lookup(_ request: FuseRequest, _ out: inout FuseReply) throws(FuseErrno) {
        let name = try request.trailingName(at: 0)
        try FileName.validate(name)
        // Room first: a lookup the guest never hears of could never be forgotten.
        try out.reserve(FuseLayout.entryOutSize)
        let parent = try nodes.node(request.nodeID)
        do throws(FuseErrno) {
            let (id, status) = try lookUp(name, in: parent.fd, parent: request.nodeID)
            try out.appendEntry(node: id, status: status, timeout: timeout)
        } catch where error == .noEntry && timeout > 0 {
            // A missing name is answered as node 0 with an entry timeout, so the guest caches
            // the miss (a negative dentry) instead of asking again on every path search.
            try out.appendNegativeEntry(timeout: timeout)
        }
    }

    /// Resolves `name` (a checked component, NUL-terminated in memory right after its bytes)
    /// beneath `directory` and references its node. Shared by LOOKUP and READDIRPLUS.
    func lookUp(_ name: UnsafeRawBufferPointer, in directory: Int32, parent: UInt64) throws(FuseErrno) -> (UInt64, stat) {
        let fd = try HostFiles.openPath(Self.cString(name), in: directory)
        let status: stat
        do throws(FuseErrno) {
            status = try HostFiles.status(fd)
        } catch {
            HostFiles.close(fd)
            throw error
        }
        return (try nodes.reference(fd: fd, status: status, parent: parent, name: name), status)
    }

    /// GETATTR: the node's own attributes (the optional file handle is not needed: the node's
    /// descriptor is the same inode).
    func getattr(_ request: FuseRequest, _ out: inout FuseReply) throws(FuseErrno) {
        let node = try nodes.node(request.nodeID)
        try out.reserve(FuseLayout.attrOutSize)
        try out.appendAttributeReply(try HostFiles.status(node.fd), timeout: timeout)
    }

    /// READLINK: the link's text, which the guest resolves in its own namespace; the server
    /// never follows it.
    func readlink(_ request: FuseRequest, _ out: inout FuseReply) throws(FuseErrno) {
        let node = try nodes.node(request.nodeID)
        guard node.isSymlink else { throw .invalid }
        // One byte more than PATH_MAX tells a target that was cut short.
        let room = min(out.room, FuseLayout.pathMax + 1)
        guard room > 0 else { throw .range }
        let count = try HostFiles.readLink(node.fd, into: try out.tail(room))
        guard count < room else { throw room > FuseLayout.pathMax ? .nameTooLong : .range }
        out.commit(count)
    }

    /// A name from a request or a dirent as a C string: the byte after it is its NUL.
    static func cString(_ name: UnsafeRawBufferPointer) -> UnsafePointer<CChar> {
        name.baseAddress!.assumingMemoryBound(to: CChar.self)
    }
}
