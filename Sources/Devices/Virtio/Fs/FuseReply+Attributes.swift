#if canImport(Glibc)
import Glibc
#endif

/// Host `stat` as the guest sees it: `fuse_attr`, `fuse_entry_out`, `fuse_attr_out`.
extension FuseReply {
    /// fuse_attr: times as seconds and nanoseconds, rdev in the kernel's new_encode_dev form.
    mutating func appendAttributes(_ status: stat) throws(FuseErrno) {
        try reserve(FuseLayout.attrSize)
        try append(UInt64(status.st_ino))
        try append(UInt64(clamping: status.st_size))
        try append(UInt64(clamping: status.st_blocks))
        try append(UInt64(bitPattern: Int64(status.st_atim.tv_sec)))
        try append(UInt64(bitPattern: Int64(status.st_mtim.tv_sec)))
        try append(UInt64(bitPattern: Int64(status.st_ctim.tv_sec)))
        try append(UInt32(clamping: status.st_atim.tv_nsec))
        try append(UInt32(clamping: status.st_mtim.tv_nsec))
        try append(UInt32(clamping: status.st_ctim.tv_nsec))
        try append(UInt32(status.st_mode))
        try append(UInt32(clamping: status.st_nlink))
        try append(UInt32(status.st_uid))
        try append(UInt32(status.st_gid))
        try append(Self.encodeDevice(UInt64(status.st_rdev)))
        try append(UInt32(clamping: status.st_blksize))
        try append(UInt32(0))  // flags: no submounts, no DAX
    }

    /// fuse_attr for an entry the server did not look up: only the type is known.
    mutating func appendTypeOnlyAttributes(inode: UInt64, direntType: UInt8) throws(FuseErrno) {
        try reserve(FuseLayout.attrSize)
        try append(inode)
        try appendZeros(5 * 8 + 3 * 4)
        try append(UInt32(direntType) << 12)  // DT_* is S_IF* >> 12
        try appendZeros(6 * 4)
    }

    /// fuse_entry_out for node `id` (0: "no node", which the kernel does not count).
    mutating func appendEntry(node id: UInt64, status: stat, timeout: UInt64) throws(FuseErrno) {
        try reserve(FuseLayout.entryOutSize)
        try append(id)
        try append(UInt64(0))  // generation: ids are never reused, so one generation serves
        try append(timeout)    // entry_valid
        try append(timeout)    // attr_valid
        try append(UInt32(0))
        try append(UInt32(0))
        try appendAttributes(status)
    }

    /// fuse_entry_out for a name that does not exist: node 0, cached for `timeout`.
    mutating func appendNegativeEntry(timeout: UInt64) throws(FuseErrno) {
        try reserve(FuseLayout.entryOutSize)
        try appendZeros(16)
        try append(timeout)
        try appendZeros(FuseLayout.entryOutSize - 24)
    }

    /// fuse_attr_out.
    mutating func appendAttributeReply(_ status: stat, timeout: UInt64) throws(FuseErrno) {
        try reserve(FuseLayout.attrOutSize)
        try append(timeout)
        try append(UInt32(0))
        try append(UInt32(0))
        try appendAttributes(status)
    }

    /// glibc's dev_t (major in bits 8-19 and 32-43, minor in 0-7 and 12-31 and 44-63) to the
    /// 32-bit form the FUSE kernel decodes (minor low byte, major, minor high bits).
    static func encodeDevice(_ device: UInt64) -> UInt32 {
        let major = (device >> 8) & 0xFFF | (device >> 32) & ~0xFFF
        let minor = device & 0xFF | (device >> 12) & ~0xFF
        return UInt32(truncatingIfNeeded: minor & 0xFF | major << 8 | (minor & ~0xFF) << 12)
    }
}
