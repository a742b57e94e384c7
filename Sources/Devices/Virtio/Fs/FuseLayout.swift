/// Sizes and constants of the FUSE wire format (linux/fuse.h, protocol 7.31 and later), which
/// this server reads and writes by offset: every structure is little-endian and padded to 8.
enum FuseLayout {
    static let kernelMajor: UInt32 = 7
    /// The minor version this server speaks (the kernel uses the smaller of the two).
    static let serverMinor: UInt32 = 38
    /// The oldest kernel side accepted: 7.31 is the first with virtio-fs (Linux 5.4), and it
    /// fixes the sizes of every structure below (no compat layouts to carry).
    static let oldestMinor: UInt32 = 31
    static let rootNode: UInt64 = 1

    /// fuse_in_header: len u32, opcode u32, unique u64, nodeid u64, uid, gid, pid u32,
    /// total_extlen u16 (in 8-byte units), padding u16.
    static let inHeaderSize = 40
    /// fuse_out_header: len u32, error i32, unique u64.
    static let outHeaderSize = 16
    /// fuse_attr: ino, size, blocks, atime, mtime, ctime (u64); atimensec, mtimensec,
    /// ctimensec, mode, nlink, uid, gid, rdev, blksize, flags (u32).
    static let attrSize = 88
    /// fuse_entry_out: nodeid, generation, entry_valid, attr_valid (u64), two u32 nsecs, attr.
    static let entryOutSize = 40 + attrSize
    /// fuse_attr_out: attr_valid u64, attr_valid_nsec u32, dummy u32, attr.
    static let attrOutSize = 16 + attrSize
    /// fuse_open_out: fh u64, open_flags u32, padding u32.
    static let openOutSize = 16
    /// fuse_kstatfs: blocks, bfree, bavail, files, ffree (u64); bsize, namelen, frsize,
    /// padding, spare[6] (u32).
    static let statfsOutSize = 80
    /// fuse_init_out, protocol 7.23 and later.
    static let initOutSize = 64
    /// fuse_getxattr_out: size u32, padding u32.
    static let getxattrOutSize = 8
    /// fuse_dirent: ino u64, off u64, namelen u32, type u32, then the name, padded to 8.
    static let direntHeaderSize = 24
    /// fuse_read_in: fh, offset (u64); size, read_flags (u32); lock_owner u64; flags, padding.
    static let readInSize = 40
    /// fuse_init_in before 7.36 (major, minor, max_readahead, flags); later kernels add more.
    static let initInMinimumSize = 16

    /// NAME_MAX: the longest name a LOOKUP may carry.
    static let nameMax = 255
    /// XATTR_SIZE_MAX: the largest xattr value or list the host can return.
    static let xattrSizeMax = 65536
    /// PATH_MAX: the longest symlink target READLINK returns.
    static let pathMax = 4096
    static let pageSize = 4096

    // fuse_init flags offered (each is a behaviour this server implements or tolerates).
    static let asyncRead: UInt32 = 1 << 0
    static let bigWrites: UInt32 = 1 << 5
    static let doReaddirplus: UInt32 = 1 << 13
    static let readdirplusAuto: UInt32 = 1 << 14
    static let parallelDirops: UInt32 = 1 << 18
    static let maxPages: UInt32 = 1 << 22
    static let cacheSymlinks: UInt32 = 1 << 23
    static let offeredInitFlags: UInt32 = asyncRead | bigWrites | doReaddirplus | readdirplusAuto
        | parallelDirops | maxPages | cacheSymlinks

    /// `getattr_flags`: the request names an open file handle (ignored: the node decides).
    static let getattrFH: UInt32 = 1 << 0

    /// Rounds a record length up to the next multiple of 8 (FUSE_REC_ALIGN), or nil on overflow.
    static func aligned(_ length: Int) -> Int? {
        let (sum, overflow) = length.addingReportingOverflow(7)
        return overflow ? nil : sum & ~7
    }
}
