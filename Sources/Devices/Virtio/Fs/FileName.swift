/// A name the guest asks the server to resolve: exactly one path component.
///
/// Resolution is confined by openat2 anyway; refusing these up front keeps `..` and `/` from
/// ever reaching the host, and gives the guest the errors a local file system would.
enum FileName {
    static let slash = UInt8(ascii: "/")
    static let dot = UInt8(ascii: ".")

    /// Throws unless `name` (without its terminator) is a plain component: not empty, at most
    /// NAME_MAX bytes, no '/' or NUL, not "." or "..".
    static func validate(_ name: UnsafeRawBufferPointer) throws(FuseErrno) {
        guard !name.isEmpty else { throw .invalid }
        guard name.count <= FuseLayout.nameMax else { throw .nameTooLong }
        guard !name.contains(slash), !name.contains(0) else { throw .invalid }
        // "." and ".." would leave the parent (or name it again): no such entry here.
        if name.count <= 2, name.allSatisfy({ $0 == dot }) { throw .noEntry }
    }
}
