#if canImport(Glibc)
import Glibc
#endif

/// Why one FUSE request failed: a positive errno, sent to the guest as `-errno` in
/// `fuse_out_header.error`. Every failure of a request ends as one of these, never a trap.
public struct FuseErrno: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: Int32
    public init(_ code: Int32) { self.code = code }

    /// The errno of the last failed host call; EIO if the host left none (never 0, which
    /// the guest would read as success).
    static var last: FuseErrno { FuseErrno(errno > 0 ? errno : EIO) }

    public var description: String { "errno \(code)" }

    public static let noEntry = FuseErrno(ENOENT)
    public static let io = FuseErrno(EIO)
    public static let badHandle = FuseErrno(EBADF)
    public static let accessDenied = FuseErrno(EACCES)
    public static let invalid = FuseErrno(EINVAL)
    public static let readOnly = FuseErrno(EROFS)
    public static let notImplemented = FuseErrno(ENOSYS)
    public static let notDirectory = FuseErrno(ENOTDIR)
    public static let isDirectory = FuseErrno(EISDIR)
    public static let nameTooLong = FuseErrno(ENAMETOOLONG)
    public static let stale = FuseErrno(ESTALE)
    public static let range = FuseErrno(ERANGE)
    public static let noData = FuseErrno(ENODATA)
    public static let protocolError = FuseErrno(EPROTO)
    /// The node table is full (the server's "system-wide" limit).
    public static let tooManyNodes = FuseErrno(ENFILE)
    /// The handle table is full (the "per-process" limit).
    public static let tooManyHandles = FuseErrno(EMFILE)
}
