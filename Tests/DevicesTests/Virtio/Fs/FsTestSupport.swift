import Devices
import GuestMemory
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// setxattr(2)'s no-follow form, which the Swift Glibc module does not export (sys/xattr.h);
/// a plain C call, so it is declared by name.
@_silgen_name("lsetxattr")
private func lsetxattr(_ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>, _ value: UnsafeRawPointer?,
                       _ size: Int, _ flags: Int32) -> Int32

/// A scratch directory tree for virtio-fs tests, removed afterwards: the shared root is
/// `root`, and `outside` is a sibling that holds what an escape would reach.
final class SharedTree {
    let base: String
    var root: String { base + "/shared" }
    var outside: String { base + "/outside" }

    init() {
        var template = Array("/tmp/kiln-fs-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        base = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        precondition(mkdir(base + "/shared", 0o755) == 0 && mkdir(base + "/outside", 0o755) == 0)
        file("outside/secret", "host secret\n")
    }

    deinit { Self.remove(base) }

    /// `path` is relative to `base` (so "shared/a" is inside the share, "outside/x" is not).
    func file(_ path: String, _ contents: String, mode: mode_t = 0o644) {
        file(path, bytes: Array(contents.utf8), mode: mode)
    }

    func file(_ path: String, bytes: [UInt8], mode: mode_t = 0o644) {
        let fd = open(base + "/" + path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        precondition(fd >= 0, "create \(path) failed (errno \(errno))")
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        precondition(written == bytes.count)
        close(fd)
    }

    func directory(_ path: String) { precondition(mkdir(base + "/" + path, 0o755) == 0, "mkdir \(path)") }
    func symlink(_ path: String, to target: String) {
        precondition(Glibc.symlink(target, base + "/" + path) == 0, "symlink \(path)")
    }
    func fifo(_ path: String) { precondition(mkfifo(base + "/" + path, 0o644) == 0, "mkfifo \(path)") }
    /// A character device node (root only): `mknod c major minor`.
    func characterDevice(_ path: String, major: UInt32, minor: UInt32, block: Bool = false) -> Bool {
        // glibc's dev_t layout (gnu_dev_makedev, a macro Swift does not see).
        let device = UInt64(minor & 0xFF) | UInt64(major & 0xFFF) << 8 | UInt64(minor & ~0xFF) << 12
            | UInt64(major & ~0xFFF) << 32
        return mknod(base + "/" + path, mode_t(block ? S_IFBLK : S_IFCHR) | 0o666, dev_t(device)) == 0
    }
    func rename(_ from: String, _ to: String) {
        precondition(Glibc.rename(base + "/" + from, base + "/" + to) == 0, "rename \(from)")
    }
    func unlink(_ path: String) { precondition(Glibc.unlink(base + "/" + path) == 0, "unlink \(path)") }
    func link(_ from: String, _ to: String) { precondition(Glibc.link(base + "/" + from, base + "/" + to) == 0) }
    func setAttribute(_ path: String, _ name: String, _ value: String) -> Bool {
        lsetxattr(base + "/" + path, name, value, value.utf8.count, 0) == 0
    }

    /// Every entry under `base` with its type, mode, size, mtime, link target and contents:
    /// equal snapshots mean nothing on the host changed.
    func snapshot() -> [String: String] {
        var result: [String: String] = [:]
        Self.walk(base, relative: "", into: &result)
        return result
    }

    private static func walk(_ path: String, relative: String, into result: inout [String: String]) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        var line = "mode \(status.st_mode) size \(status.st_size) mtime \(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec)"
        let type = status.st_mode & mode_t(S_IFMT)
        switch type {
        case mode_t(S_IFLNK):
            var buffer = [CChar](repeating: 0, count: 4097)
            let count = readlink(path, &buffer, 4096)
            line += " -> " + String(decoding: buffer[..<max(count, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        case mode_t(S_IFREG):
            let fd = open(path, O_RDONLY)
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = read(fd, &buffer, buffer.count)
            close(fd)
            line += " " + String(decoding: buffer[..<max(count, 0)], as: UTF8.self)
        case mode_t(S_IFDIR):
            guard let stream = opendir(path) else { break }
            var names: [String] = []
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(stream)
            for name in names { walk(path + "/" + name, relative: relative + "/" + name, into: &result) }
        default:
            break
        }
        result[relative.isEmpty ? "/" : relative] = line
    }

    static func remove(_ path: String) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        if status.st_mode & mode_t(S_IFMT) == mode_t(S_IFDIR) {
            if let stream = opendir(path) {
                var names: [String] = []
                while let entry = readdir(stream) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(stream)
                for name in names { remove(path + "/" + name) }
            }
            rmdir(path)
        } else {
            Glibc.unlink(path)
        }
    }
}

/// A guest driving one `Fs` device through the mock virtio driver: request in readable
/// buffers, reply in writable ones, each split as a test asks.
final class FsGuest {
    let device: Fs
    let driver: MockVirtioDriver
    private(set) var queues: [MockQueue]
    private var unique: UInt64 = 100
    /// Every byte of the last reply's writable buffers, beyond the used length too.
    private(set) var lastReplyBuffers: [UInt8] = []

    init(tree: SharedTree, limits: FileServerLimits = FileServerLimits(), requestQueues: Int = 1) throws {
        device = try Fs(tag: "kilnfs", sharedDirectory: tree.root, requestQueues: requestQueues, queueSize: 256,
                        limits: limits)
        driver = MockVirtioDriver(device: device, memorySize: 256 << 20)
        queues = driver.start()
    }

    var requestQueue: MockQueue { queues[1] }

    /// The driver resets the device and starts it again, with fresh queues.
    func restartDevice() {
        driver.reset()
        queues = driver.start()
    }

    /// Sends `request` split into readable buffers of `requestSplit` bytes (one buffer if nil),
    /// with `replySize` bytes of writable buffers split likewise, on `queue` (default: the
    /// first request queue).
    func send(_ request: [UInt8], replySize: Int = 4096, requestSplit: Int? = nil, replySplit: Int? = nil,
              queue: Int = 1) -> FuseAnswer {
        var buffers: [MockBuffer] = []
        for chunk in Self.chunks(request.count, requestSplit) {
            buffers.append(driver.readable(Array(request[chunk])))
        }
        var writable: [MockBuffer] = []
        for chunk in Self.chunks(replySize, replySplit) where !chunk.isEmpty {
            writable.append(driver.writable(chunk.count))
        }
        return submit(buffers + writable, writable: writable, queue: queue)
    }

    /// Submits exactly `buffers` (any malformed mix); `writable` are those whose bytes count as
    /// the reply.
    func submit(_ buffers: [MockBuffer], writable: [MockBuffer], queue: Int = 1) -> FuseAnswer {
        let mockQueue = queues[queue]
        let head = mockQueue.submit(buffers)
        mockQueue.notify()
        let used = mockQueue.takeUsed()
        precondition(used.count == 1 && used[0].id == UInt32(head), "expected one used chain, got \(used)")
        let bytes = writable.flatMap { driver.bytes(of: $0) }
        lastReplyBuffers = bytes
        return FuseAnswer(used: used[0].length, bytes: Array(bytes.prefix(Int(used[0].length))))
    }

    private static func chunks(_ count: Int, _ size: Int?) -> [Range<Int>] {
        guard let size, size > 0 else { return [0..<count] }
        return stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
    }

    func nextUnique() -> UInt64 {
        unique += 1
        return unique
    }

    // MARK: - Requests

    @discardableResult
    func initialize(minor: UInt32 = 38, flags: UInt32 = 0xFFFF_FFFF) -> FuseAnswer {
        send(FuseMessage.request(.initialize, unique: nextUnique(),
                                 arguments: FuseMessage.initArguments(minor: minor, flags: flags)))
    }

    func lookup(_ name: String, in parent: UInt64 = FuseMessage.rootNode, replySize: Int = 4096) -> FuseAnswer {
        send(FuseMessage.request(.lookup, unique: nextUnique(), node: parent, arguments: FuseMessage.name(name)),
             replySize: replySize)
    }

    /// LOOKUP that must succeed; returns the node id.
    func node(_ name: String, in parent: UInt64 = FuseMessage.rootNode) -> UInt64 {
        let answer = lookup(name, in: parent)
        precondition(answer.error == 0, "lookup \(name) failed: \(answer.error)")
        return answer.nodeID
    }

    func getattr(_ node: UInt64) -> FuseAnswer {
        send(FuseMessage.request(.getattr, unique: nextUnique(), node: node, arguments: [UInt8](repeating: 0, count: 16)))
    }

    func open(_ node: UInt64, flags: UInt32 = UInt32(O_RDONLY), directory: Bool = false) -> FuseAnswer {
        send(FuseMessage.request(directory ? .opendir : .open, unique: nextUnique(), node: node,
                                 arguments: FuseMessage.openArguments(flags: flags)))
    }

    func read(_ handle: UInt64, node: UInt64, offset: UInt64 = 0, size: UInt32 = 4096, opcode: FuseMessage.Opcode = .read,
              replySize: Int? = nil, replySplit: Int? = nil) -> FuseAnswer {
        send(FuseMessage.request(opcode, unique: nextUnique(), node: node,
                                 arguments: FuseMessage.readArguments(handle: handle, offset: offset, size: size)),
             replySize: replySize ?? 16 + Int(size), replySplit: replySplit)
    }

    func release(_ handle: UInt64, node: UInt64, directory: Bool = false) -> FuseAnswer {
        send(FuseMessage.request(directory ? .releasedir : .release, unique: nextUnique(), node: node,
                                 arguments: FuseMessage.releaseArguments(handle: handle)))
    }

    func forget(_ node: UInt64, lookups: UInt64 = 1) -> FuseAnswer {
        send(FuseMessage.request(.forget, unique: nextUnique(), node: node,
                                 arguments: FuseMessage.forgetArguments(lookups: lookups)), replySize: 0, queue: 0)
    }

    /// Reads a whole regular file through OPEN/READ/RELEASE.
    func contents(of node: UInt64) -> [UInt8]? {
        let opened = open(node)
        guard opened.error == 0 else { return nil }
        let handle = opened.payloadU64(0)
        defer { _ = release(handle, node: node) }
        var bytes: [UInt8] = []
        while true {
            let answer = read(handle, node: node, offset: UInt64(bytes.count), size: 4096)
            guard answer.error == 0 else { return nil }
            if answer.payload.isEmpty { return bytes }
            bytes += answer.payload
        }
    }

    /// Every entry of a directory node through OPENDIR/READDIR(PLUS)/RELEASEDIR, `size` bytes
    /// per request.
    func list(_ node: UInt64, plus: Bool = false, size: UInt32 = 4096) -> [FuseDirectoryEntry]? {
        let opened = open(node, directory: true)
        guard opened.error == 0 else { return nil }
        let handle = opened.payloadU64(0)
        defer { _ = release(handle, node: node, directory: true) }
        var entries: [FuseDirectoryEntry] = []
        var offset: UInt64 = 0
        while true {
            let answer = read(handle, node: node, offset: offset, size: size, opcode: plus ? .readdirplus : .readdir)
            guard answer.error == 0 else { return nil }
            let batch = FuseDirectoryEntry.parse(answer.payload, plus: plus)
            if batch.isEmpty { return entries }
            entries += batch
            offset = batch.last!.offset
        }
    }
}

extension FuseAnswer {
    var text: String { String(decoding: payload, as: UTF8.self) }
}
