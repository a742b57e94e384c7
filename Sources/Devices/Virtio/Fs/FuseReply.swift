/// Builds one reply in the server's preallocated buffer: the payload after a 16-byte
/// `fuse_out_header` that `finish` fills in. `capacity` is the smaller of the buffer and the
/// guest's writable space, so nothing written here can fail to reach the guest whole.
///
/// Handlers ask `reserve` for the room a reply needs before they change any state (a lookup
/// count the guest would never learn about, an open descriptor it could never release).
struct FuseReply {
    private let buffer: UnsafeMutableRawBufferPointer
    /// Bytes written so far, header included.
    private(set) var length = FuseLayout.outHeaderSize
    /// Payload bytes a host call put straight into the guest's buffers, after `length`.
    private(set) var directLength = 0

    /// `buffer.count` must be at least the header size; the caller checks.
    init(buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= FuseLayout.outHeaderSize)
        self.buffer = buffer
    }

    /// Payload bytes still free.
    var room: Int { buffer.count - length - directLength }

    /// Fails with `error` unless `count` more payload bytes fit.
    func reserve(_ count: Int, or error: FuseErrno = .range) throws(FuseErrno) {
        guard count >= 0, count <= room else { throw error }
    }

    mutating func append<T: FixedWidthInteger>(_ value: T) throws(FuseErrno) {
        precondition(directLength == 0, "direct payload must come last")
        try reserve(MemoryLayout<T>.size)
        buffer.storeBytes(of: value.littleEndian, toByteOffset: length, as: T.self)
        length += MemoryLayout<T>.size
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) throws(FuseErrno) {
        try reserve(bytes.count)
        if let base = bytes.baseAddress, bytes.count > 0 {
            (buffer.baseAddress! + length).copyMemory(from: base, byteCount: bytes.count)
        }
        length += bytes.count
    }

    mutating func appendZeros(_ count: Int) throws(FuseErrno) {
        try reserve(count)
        (buffer.baseAddress! + length).initializeMemory(as: UInt8.self, repeating: 0, count: count)
        length += count
    }

    /// Pads the reply with zeros to the next multiple of 8 (a dirent's end).
    mutating func alignRecord() throws(FuseErrno) {
        guard let end = FuseLayout.aligned(length) else { throw .range }
        try appendZeros(end - length)
    }

    /// Room for a host call to write up to `count` payload bytes directly; `commit` then
    /// counts the bytes it wrote.
    func tail(_ count: Int, or error: FuseErrno = .range) throws(FuseErrno) -> UnsafeMutableRawBufferPointer {
        try reserve(count, or: error)
        return UnsafeMutableRawBufferPointer(rebasing: buffer[length..<(length + count)])
    }

    mutating func commit(_ count: Int) {
        precondition(count >= 0 && count <= room)
        length += count
    }

    /// Counts `count` payload bytes written straight into the guest's buffers (READ); nothing
    /// may be appended after them.
    mutating func commitDirect(_ count: Int) {
        precondition(count >= 0 && count <= room)
        directLength += count
    }

    /// Writes the header for a successful reply; returns the reply's length and how much of
    /// it is in the buffer (the rest is already in guest memory).
    func finish(unique: UInt64) -> FileServerReply {
        Self.writeHeader(buffer, length: length + directLength, error: 0, unique: unique)
        return FileServerReply(length: length + directLength, buffered: length)
    }

    /// Writes a header-only error reply into `buffer`.
    static func error(_ error: FuseErrno, unique: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> FileServerReply {
        writeHeader(buffer, length: FuseLayout.outHeaderSize, error: -error.code, unique: unique)
        return FileServerReply(length: FuseLayout.outHeaderSize, buffered: FuseLayout.outHeaderSize)
    }

    private static func writeHeader(_ buffer: UnsafeMutableRawBufferPointer, length: Int, error: Int32,
                                    unique: UInt64) {
        buffer.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 0, as: UInt32.self)
        buffer.storeBytes(of: error.littleEndian, toByteOffset: 4, as: Int32.self)
        buffer.storeBytes(of: unique.littleEndian, toByteOffset: 8, as: UInt64.self)
    }
}

/// How long a reply is, and how much of it `FileServer.handle` left in the reply buffer for
/// the caller to copy out: the first `buffered` bytes; the rest (READ data) is already in the
/// guest's buffers, right after them.
public struct FileServerReply: Equatable, Sendable {
    public let length: Int
    public let buffered: Int

    public static let none = FileServerReply(length: 0, buffered: 0)
}
