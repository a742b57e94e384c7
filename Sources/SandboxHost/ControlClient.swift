import Glibc
import Sandbox

/// One request to a sandbox VMM's API socket (`kiln boot --control-sock`, `kiln --api-sock`):
/// HTTP/1.1 with `Connection: close`, answered with the status and body. The VMM is treated as
/// hostile: the answer is read up to `maxResponse` bytes and until `deadline`, no longer.
public struct ControlClient: Sendable {
    public let socketPath: String
    static let maxResponse = 64 * 1024
    /// O_PATH (x86_64), a _GNU_SOURCE name the Swift Glibc module does not export.
    static let openPath: Int32 = 0o10000000

    public init(socketPath: String) { self.socketPath = socketPath }

    public struct Response: Sendable, Equatable {
        public let status: Int
        public let body: String
    }

    /// Sends `method path` with a JSON body; throws when the socket cannot be reached, the
    /// deadline passes or the answer is not HTTP.
    public func send(_ method: String, _ path: String, json: String, timeout: Double) throws(SandboxHostError) -> Response {
        let deadline = monotonicNow() + timeout
        let fd = try connect()
        defer { close(fd) }
        let request = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n\(json)"
        var bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            try wait(fd, events: Int16(POLLOUT), until: deadline)
            let n = bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .system(operation: "send to the VMM", path: socketPath, errno: errno)
            }
            sent += n
        }
        bytes = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < Self.maxResponse {
            if let response = Self.parse(bytes) { return response }
            try wait(fd, events: Int16(POLLIN), until: deadline)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, min($0.count, Self.maxResponse - bytes.count), 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw .system(operation: "read from the VMM", path: socketPath, errno: errno)
            }
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        guard let response = Self.parse(bytes, complete: true) else {
            throw .control(path: socketPath, problem: "no HTTP answer (\(bytes.count) bytes)")
        }
        return response
    }

    /// Connects to the socket itself, never through a link: a jailed VMM can put anything in
    /// its jail root under that name, and a link there would be followed by the host. The
    /// socket is opened O_PATH without following links, checked to be a socket, and reached
    /// as /proc/self/fd/N (which also fits any jail root path into a socket address).
    private func connect() throws(SandboxHostError) -> Int32 {
        let slash = socketPath.lastIndex(of: "/") ?? socketPath.startIndex
        let parent = slash == socketPath.startIndex ? "/" : String(socketPath[..<slash])
        let name = String(socketPath[socketPath.index(after: slash)...])
        let directory = open(parent, Self.openPath | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw .system(operation: "open", path: parent, errno: errno) }
        defer { close(directory) }
        let node = openat(directory, name, Self.openPath | O_NOFOLLOW | O_CLOEXEC)
        guard node >= 0 else { throw .system(operation: "open", path: socketPath, errno: errno) }
        defer { close(node) }
        var info = stat()
        guard fstat(node, &info) == 0 else { throw .system(operation: "fstat", path: socketPath, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else { throw .notOwned(path: socketPath, reason: "not a socket (a link?)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array("/proc/self/fd/\(node)".utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in pathBytes.enumerated() { raw[index] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .system(operation: "socket", path: socketPath, errno: errno) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        // A Unix stream connect completes at once or fails (EAGAIN: the backlog is full).
        guard result == 0 else {
            let err = errno
            close(fd)
            throw .system(operation: "connect", path: socketPath, errno: err)
        }
        return fd
    }

    private func wait(_ fd: Int32, events: Int16, until deadline: Double) throws(SandboxHostError) {
        while true {
            let left = deadline - monotonicNow()
            guard left > 0 else { throw .control(path: socketPath, problem: "the VMM did not answer in time") }
            var poller = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&poller, 1, Int32(min(left * 1000 + 1, 60_000)))
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw .system(operation: "poll", path: socketPath, errno: errno) }
        }
    }

    /// The response in `bytes` once its head and Content-Length bytes of body are there (or,
    /// `complete`, whatever body arrived before the VMM closed).
    static func parse(_ bytes: [UInt8], complete: Bool = false) -> Response? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let end = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
            return nil
        }
        let head = String(decoding: bytes[0..<end], as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusWords = lines.first?.split(separator: " ") ?? []
        guard statusWords.count >= 2, statusWords[0].hasPrefix("HTTP/1."), let status = Int(statusWords[1]),
              (100...599).contains(status) else { return nil }
        var length = 0
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                guard let value = Int(parts[1].trimmingCharacters(in: " ")), value >= 0, value <= maxResponse else { return nil }
                length = value
            }
        }
        let body = bytes[(end + 4)...]
        guard body.count >= length || complete else { return nil }
        return Response(status: status, body: String(decoding: body.prefix(length), as: UTF8.self))
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> Substring {
        var text = self
        while text.first == set { text.removeFirst() }
        while text.last == set { text.removeLast() }
        return text
    }
}
