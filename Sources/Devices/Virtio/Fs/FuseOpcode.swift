/// FUSE opcodes (linux/fuse.h `enum fuse_opcode`) and what this read-only server does with
/// each. The raw value is what the guest sends; anything not listed is answered ENOSYS.
enum FuseOpcode: UInt32 {
    case lookup = 1, forget = 2, getattr = 3, setattr = 4, readlink = 5, symlink = 6
    case mknod = 8, mkdir = 9, unlink = 10, rmdir = 11, rename = 12, link = 13
    case open = 14, read = 15, write = 16, statfs = 17, release = 18, fsync = 20
    case setxattr = 21, getxattr = 22, listxattr = 23, removexattr = 24, flush = 25
    case initialize = 26, opendir = 27, readdir = 28, releasedir = 29, fsyncdir = 30
    case getlk = 31, setlk = 32, setlkw = 33, access = 34, create = 35, interrupt = 36
    case bmap = 37, destroy = 38, ioctl = 39, poll = 40, notifyReply = 41, batchForget = 42
    case fallocate = 43, readdirplus = 44, rename2 = 45, lseek = 46, copyFileRange = 47
    case setupMapping = 48, removeMapping = 49, syncfs = 50, tmpfile = 51

    /// Requests that would change the shared tree: refused with EROFS and never executed,
    /// so the guest sees a read-only file system rather than a missing feature.
    var modifiesTree: Bool {
        switch self {
        case .setattr, .symlink, .mknod, .mkdir, .unlink, .rmdir, .rename, .link, .write,
             .setxattr, .removexattr, .create, .fallocate, .rename2, .copyFileRange, .tmpfile:
            true
        default:
            false
        }
    }

    /// Requests the kernel sends without waiting for (or accepting) a reply.
    var expectsReply: Bool { self != .forget && self != .batchForget }
}
