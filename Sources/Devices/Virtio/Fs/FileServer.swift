#if canImport(Glibc)
import Glibc
#endif
import CFileServer

/// A read-only FUSE server over one host directory: the request handler behind virtio-fs.
///
/// Hostile input is the normal case. Every request has been copied out of guest memory before
/// it gets here; every name is one component resolved beneath its parent's descriptor by
/// openat2 (RESOLVE_BENEATH, no symlinks, no magic links, no other mounts); symlinks are read,
/// never followed; device nodes, FIFOs and sockets can be looked up but never opened; nothing
/// is ever written, created or removed (those opcodes get EROFS or ENOSYS unexecuted); and
/// nodes, handles and reply sizes are bounded by `FileServerLimits`.
///
/// Not thread-safe: the device serializes requests under its lock. `handle` allocates only
/// when a node is created (its table entry, and a regular file's name).
public final class FileServer {
    public let limits: FileServerLimits
    var nodes: NodeTable
    var handles: HandleTable
    /// INIT accepted and no DESTROY since: every other request needs it.
    var isInitialized = false
    /// linux_dirent64 records from the host, for READDIR(PLUS); allocated once.
    let directoryBuffer: UnsafeMutableRawBufferPointer
    public private(set) var counters = FileServerCounters()
    /// The guest's buffers past the reply header, during one `handle` call (see there).
    var directPayload: UnsafeMutableBufferPointer<iovec>?

    static let directoryBufferSize = 32 * 1024

    /// Opens `sharedDirectory` (trusted configuration: it may itself be reached through
    /// symlinks) as node 1. Call before the thread's seccomp filter: it is the one plain open.
    public init(sharedDirectory: String, limits: FileServerLimits = FileServerLimits()) throws(FileServerError) {
        if let problem = limits.problem { throw .invalidLimits(problem) }
        let fd = open(sharedDirectory, Int32(KILN_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .sharedDirectory(path: sharedDirectory, errno: errno) }
        let root: stat
        do throws(FuseErrno) {
            root = try HostFiles.status(fd)
        } catch {
            HostFiles.close(fd)
            throw .sharedDirectory(path: sharedDirectory, errno: error.code)
        }
        self.limits = limits
        nodes = NodeTable(rootFD: fd, root: root, capacity: limits.maxNodes)
        handles = HandleTable(capacity: limits.maxHandles)
        directoryBuffer = .allocate(byteCount: Self.directoryBufferSize, alignment: 8)
    }

    deinit {
        handles.removeAll()
        nodes.removeAll(keepingRoot: false)
        directoryBuffer.deallocate()
    }

    /// Nodes and open handles held now (the root is one node).
    public var nodeCount: Int { nodes.count }
    public var handleCount: Int { handles.count }

    /// Counts a chain the device could not hand to `handle`.
    func countMalformedChain() { counters.malformedChains += 1 }

    /// Answers one request. `request` holds the first bytes of a request of `availableLength`
    /// bytes (the chain's readable part may be longer than the device's copy); the reply goes
    /// into `reply`, whose size is already the room the guest gave. `payload`, if given, is
    /// the guest's reply buffers past the reply header (at most `reply.count - 16` bytes):
    /// READ data goes there directly, with no copy. Returns `.none` when there is no reply
    /// (FORGET, or no room even for an error header).
    public func handle(request: UnsafeRawBufferPointer, availableLength: Int, reply: UnsafeMutableRawBufferPointer,
                       payload: UnsafeMutableBufferPointer<iovec>? = nil) -> FileServerReply {
        directPayload = payload
        defer { directPayload = nil }
        counters.requests += 1
        let parsed: FuseRequest
        switch FuseRequest.parse(request, availableLength: availableLength) {
        case let .success(request): parsed = request
        case let .failure(error): return fail(error, unique: FuseRequest.unique(of: request), reply: reply)
        }
        guard let opcode = FuseOpcode(rawValue: parsed.opcode) else {
            return fail(.notImplemented, unique: parsed.unique, reply: reply)
        }
        guard opcode.expectsReply else {
            if isInitialized { forget(opcode, parsed) }
            return .none
        }
        guard reply.count >= FuseLayout.outHeaderSize else {
            counters.malformedChains += 1
            return .none
        }
        var out = FuseReply(buffer: reply)
        do {
            try dispatch(opcode, parsed, &out)
            return out.finish(unique: parsed.unique)
        } catch {
            if error == .readOnly { counters.refusedModifications += 1 }
            return fail(error, unique: parsed.unique, reply: reply)
        }
    }

    private func fail(_ error: FuseErrno, unique: UInt64, reply: UnsafeMutableRawBufferPointer) -> FileServerReply {
        counters.errors += 1
        guard reply.count >= FuseLayout.outHeaderSize else { return .none }
        return FuseReply.error(error, unique: unique, into: reply)
    }

    private func dispatch(_ opcode: FuseOpcode, _ request: FuseRequest, _ out: inout FuseReply) throws(FuseErrno) {
        if opcode == .initialize { return try initialize(request, &out) }
        // As a FUSE daemon does: nothing is served before the handshake.
        guard isInitialized else { throw .io }
        if opcode.modifiesTree { throw .readOnly }
        switch opcode {
        case .lookup: try lookup(request, &out)
        case .getattr: try getattr(request, &out)
        case .readlink: try readlink(request, &out)
        case .open: try openFile(request, &out)
        case .read: try read(request, &out)
        case .release: try release(request, kind: .file)
        case .opendir: try openDirectory(request, &out)
        case .readdir: try readDirectory(request, &out, plus: false)
        case .readdirplus: try readDirectory(request, &out, plus: true)
        case .releasedir: try release(request, kind: .directory)
        case .statfs: try statfs(request, &out)
        case .getxattr: try getxattr(request, &out)
        case .listxattr: try listxattr(request, &out)
        case .destroy: destroy()
        default:
            // FLUSH, FSYNC, locks, ACCESS, IOCTL, POLL, LSEEK, DAX mappings...: ENOSYS tells the
            // kernel to stop asking and do without (local locks, its own permission checks).
            throw .notImplemented
        }
    }

    // MARK: - Session

    /// INIT: protocol 7 only, minor 31 or later; offers the flags this server implements and
    /// bounds every later READ and READDIR by `maxReadSize` (max_pages).
    private func initialize(_ request: FuseRequest, _ out: inout FuseReply) throws(FuseErrno) {
        guard !isInitialized else { throw .protocolError }
        let major = try request.argument(UInt32.self, at: 0)
        let minor = try request.argument(UInt32.self, at: 4)
        let readahead = try request.argument(UInt32.self, at: 8)
        let flags = try request.argument(UInt32.self, at: 12)
        guard major == FuseLayout.kernelMajor, minor >= FuseLayout.oldestMinor else { throw .protocolError }
        try out.reserve(FuseLayout.initOutSize)
        let maxRead = UInt32(limits.maxReadSize)
        try out.append(FuseLayout.kernelMajor)
        try out.append(FuseLayout.serverMinor)
        try out.append(min(readahead, maxRead))
        try out.append(flags & FuseLayout.offeredInitFlags)
        try out.append(UInt16(0))  // max_background: the kernel's default
        try out.append(UInt16(0))  // congestion_threshold: likewise
        try out.append(maxRead)    // max_write: never used (writes are refused), kept sane
        try out.append(UInt32(1))  // time_gran: nanoseconds, as the host reports them
        try out.append(UInt16(limits.maxReadSize / FuseLayout.pageSize))
        try out.append(UInt16(0))  // map_alignment: no DAX window
        try out.append(UInt32(0))  // flags2: FUSE_INIT_EXT is not offered
        try out.appendZeros(28)
        isInitialized = true
    }

    /// The driver reset the device (a new kernel after kexec, a driver rebind): as DESTROY,
    /// or the old session's nodes and handles would stay open and the new driver's INIT
    /// would be refused as a second one.
    func reset() { destroy() }

    /// DESTROY: the guest unmounted. Everything but the root is released; a new INIT may follow.
    private func destroy() {
        handles.removeAll()
        nodes.removeAll(keepingRoot: true)
        isInitialized = false
    }

    // MARK: - Forgetting

    /// FORGET and BATCH_FORGET carry no reply, so a malformed one is dropped whole.
    private func forget(_ opcode: FuseOpcode, _ request: FuseRequest) {
        if opcode == .forget {
            guard let count = try? request.argument(UInt64.self, at: 0) else { return }
            nodes.forget(request.nodeID, count: count)
            return
        }
        guard let count = try? request.argument(UInt32.self, at: 0) else { return }
        // Only entries wholly inside the request: `count` is the guest's word, the bytes are ours.
        let present = (request.arguments.count - 8) / 16
        for index in 0..<min(Int(count), max(present, 0)) {
            let base = 8 + 16 * index
            guard let id = try? request.argument(UInt64.self, at: base),
                  let lookups = try? request.argument(UInt64.self, at: base + 8) else { return }
            nodes.forget(id, count: lookups)
        }
    }
}
