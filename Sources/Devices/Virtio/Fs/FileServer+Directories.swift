/// READDIR and READDIRPLUS: a directory's entries from the host, re-encoded for the guest.
extension FileServer {
    /// linux_dirent64: ino u64, off s64, reclen u16, type u8, then the NUL-terminated name.
    private static let hostDirentNameOffset = 19

    /// Fills at most min(size, maxReadSize, the guest's room) bytes with whole entries,
    /// starting at `offset` (a cookie from an earlier reply, 0 for the start). Each entry's
    /// `off` is the host's cookie for the entry after it, so the next request resumes exactly
    /// after the last entry that fitted, and nothing is buffered between requests.
    ///
    /// READDIRPLUS looks each name up (counting a lookup, as the kernel expects) only once its
    /// record is known to fit; "." and "..", and names that cannot be looked up (a race, a full
    /// node table), go out with node id 0, which the kernel lists without caching.
    func readDirectory(_ request: FuseRequest, _ out: inout FuseReply, plus: Bool) throws(FuseErrno) {
        let fh = try request.argument(UInt64.self, at: 0)
        let offset = try request.argument(UInt64.self, at: 8)
        let size = Int(try request.argument(UInt32.self, at: 16))
        let (fd, directoryNode) = try handles.descriptor(fh, kind: .directory)
        guard offset <= UInt64(Int64.max) else { throw .invalid }
        let budget = min(size, limits.maxReadSize, out.room)
        try HostFiles.seek(fd, to: Int64(offset))
        let parentFD = plus ? (try? nodes.node(directoryNode).fd) : nil
        var used = 0
        while true {
            let count: Int
            do throws(FuseErrno) {
                count = try HostFiles.directoryEntries(fd, into: directoryBuffer)
            } catch {
                // Entries already encoded are a valid answer; the error comes back next time.
                if used > 0 { return }
                throw error
            }
            if count == 0 { return }
            var position = 0
            while position < count {
                let record = UnsafeRawBufferPointer(rebasing: directoryBuffer[position..<count])
                // The host's records are trusted but still checked before use.
                guard record.count > Self.hostDirentNameOffset else { return }
                let length = Int(record.loadUnaligned(fromByteOffset: 16, as: UInt16.self))
                guard length > Self.hostDirentNameOffset, length <= record.count else { return }
                let nameArea = UnsafeRawBufferPointer(rebasing: record[Self.hostDirentNameOffset..<length])
                guard let nameLength = nameArea.firstIndex(of: 0) else { return }
                let name = UnsafeRawBufferPointer(rebasing: nameArea[..<nameLength])
                let inode = record.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
                let next = record.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                let type = record[18]
                let header = FuseLayout.direntHeaderSize + (plus ? FuseLayout.entryOutSize : 0)
                guard let recordSize = FuseLayout.aligned(header + name.count), recordSize <= budget - used else {
                    return
                }
                if plus {
                    try appendPlusEntry(name, inode: inode, type: type, parentFD: parentFD, parent: directoryNode,
                                        &out)
                }
                try out.append(inode)
                try out.append(next)
                try out.append(UInt32(name.count))
                try out.append(UInt32(type))
                try out.append(name)
                try out.alignRecord()
                used += recordSize
                position += length
            }
        }
    }

    private func appendPlusEntry(_ name: UnsafeRawBufferPointer, inode: UInt64, type: UInt8, parentFD: Int32?,
                                 parent: UInt64, _ out: inout FuseReply) throws(FuseErrno) {
        if let parentFD, (try? FileName.validate(name)) != nil,
           let found = try? lookUp(name, in: parentFD, parent: parent) {
            try out.appendEntry(node: found.0, status: found.1, timeout: timeout)
            return
        }
        try out.appendZeros(40)  // nodeid 0: not counted, not cached
        try out.appendTypeOnlyAttributes(inode: inode, direntType: type)
    }
}
