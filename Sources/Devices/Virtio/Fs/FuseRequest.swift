/// One FUSE request, copied out of guest memory into the server's own buffer before any of it
/// is looked at, so the guest cannot change a name or a length between check and use.
///
/// `arguments` is the bytes after `fuse_in_header`, cut at the header's `len` and without the
/// request extensions; every read from it is bounds-checked and fails with EINVAL.
struct FuseRequest {
    let opcode: UInt32
    let unique: UInt64
    let nodeID: UInt64
    let arguments: UnsafeRawBufferPointer

    /// The request in `bytes`: the first bytes of a chain's readable part, which holds
    /// `availableLength` bytes in the guest. Fails with EINVAL when the header is short or its
    /// lengths disagree with the chain.
    static func parse(_ bytes: UnsafeRawBufferPointer, availableLength: Int) -> Result<FuseRequest, FuseErrno> {
        guard bytes.count >= FuseLayout.inHeaderSize else { return .failure(.invalid) }
        let length = Int(bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian)
        let extensionUnits = Int(bytes.loadUnaligned(fromByteOffset: 36, as: UInt16.self).littleEndian)
        // len covers header, arguments and extensions; it must not claim more than the guest
        // put in the chain, nor less than the header.
        let extensions = extensionUnits * 8
        guard length >= FuseLayout.inHeaderSize, length <= availableLength,
              extensions <= length - FuseLayout.inHeaderSize else { return .failure(.invalid) }
        // Extensions (security contexts) are only sent when negotiated, which this server
        // never does: they are skipped, not read.
        let end = min(length - extensions, bytes.count)
        let arguments = UnsafeRawBufferPointer(rebasing: bytes[FuseLayout.inHeaderSize..<end])
        return .success(FuseRequest(
            opcode: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian,
            unique: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian,
            nodeID: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian,
            arguments: arguments))
    }

    /// `unique` of a request too short to parse (0 if even that is missing): the reply still
    /// goes back in the chain the request came in, which is how virtio-fs matches them.
    static func unique(of bytes: UnsafeRawBufferPointer) -> UInt64 {
        bytes.count >= 16 ? bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian : 0
    }

    /// A little-endian integer at `offset` of the arguments.
    func argument<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) throws(FuseErrno) -> T {
        guard offset >= 0, offset <= arguments.count - MemoryLayout<T>.size else { throw .invalid }
        return T(littleEndian: arguments.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// The NUL-terminated string starting at `offset`, which must be the last thing in the
    /// arguments: one name, with nothing after its terminator.
    func trailingName(at offset: Int) throws(FuseErrno) -> UnsafeRawBufferPointer {
        guard offset >= 0, offset < arguments.count else { throw .invalid }
        let rest = UnsafeRawBufferPointer(rebasing: arguments[offset...])
        guard let terminator = rest.firstIndex(of: 0) else { throw .invalid }
        // A NUL before the end would hide bytes the guest meant as part of the name.
        guard rest[(terminator + 1)...].allSatisfy({ $0 == 0 }) else { throw .invalid }
        return UnsafeRawBufferPointer(rebasing: rest[..<terminator])
    }
}
