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

    /// `buffer.count` must be at least the header size; the caller checks.
    init(buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= FuseLayout.outHeaderSize)
        self.buffer = buffer
    }

    /// Payload bytes still free.
    var room: Int { buffer.count - length }

    /// Fails with `error` unless `count` more payload bytes fit.
    func reserve(_ count: Int, or error: FuseErrno = .range) throws(FuseErrno) {
        guard count >= 0, count <= room else { throw error }
    }

    mutating func append<T: FixedWidthInteger>(_ value: T) throws(FuseErrno) {
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

    /// Writes the header for a successful reply; returns the reply's length.
    func finish(unique: UInt64) -> Int {
        Self.writeHeader(buffer, length: length, error: 0, unique: unique)
        return length
    }

    /// Writes a header-only error reply into `buffer`; returns its length.
    static func error(_ error: FuseErrno, unique: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        writeHeader(buffer, length: FuseLayout.outHeaderSize, error: -error.code, unique: unique)
        return FuseLayout.outHeaderSize
    }

    private static func writeHeader(_ buffer: UnsafeMutableRawBufferPointer, length: Int, error: Int32,
                                    unique: UInt64) {
        buffer.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 0, as: UInt32.self)
        buffer.storeBytes(of: error.littleEndian, toByteOffset: 4, as: Int32.self)
        buffer.storeBytes(of: unique.littleEndian, toByteOffset: 8, as: UInt64.self)
    }
}
