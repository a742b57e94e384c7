import CKiln
import Devices
import Seccomp
import Synchronization
import VMM
#if canImport(Glibc)
import Glibc
#endif

/// The HTTP/1.1 server on the API Unix socket: one thread (`kiln_api`) waits in epoll for
/// connections, parses requests (HTTPRequestParser), hands each complete one to the VMM thread
/// and writes the answer, as Firecracker's API thread does with its own small HTTP parser.
/// It replaced swift-nio, whose first connection alone cost ~8 M instructions (the Swift
/// runtime scanning every protocol conformance of the static binary for its generic handlers),
/// more than the rest of kiln's start-up (README, "Start-up").
public final class APIServer: Sendable {
    /// Firecracker's limit on a request body.
    public static let maxBodyBytes = 51_200
    /// Connections open at once (each holds up to ~200 KiB of buffers while a request arrives);
    /// a new one beyond them closes the one that has been quiet longest, so clients that open
    /// connections and say nothing cannot lock the others out.
    static let maxConnections = 32

    private let socketPath: String

    /// Binds `socketPath` (which must not exist, or be a stale socket: one a killed VMM left),
    /// starts the thread and waits until it has named itself and installed the API role's
    /// seccomp filter; it accepts nothing before that. A client that connects earlier waits in
    /// the listen queue (had it been served first, its request, which waits for the VMM thread,
    /// would deadlock with the VMM thread waiting here).
    public init(socketPath: String, channel: RequestChannel, seccomp: Bool) throws(ConfigurationError) {
        // A killed VMM cannot remove its socket; its replacement, started on the same path,
        // takes it over rather than making the caller clean up.
        if StaleSocket.isStale(socketPath) { unlink(socketPath) }
        var info = stat()
        if lstat(socketPath, &info) == 0 {
            throw ConfigurationError("API socket \(socketPath) already exists (another kiln running? remove it first)")
        }
        guard socketPath.utf8.count < 108 else { throw ConfigurationError("API socket path \(socketPath) is longer than 107 bytes") }
        self.socketPath = socketPath
        // glibc opens /proc/sys/vm/overcommit_memory (openat) the first time a thread arena's
        // heap shrinks: under the filter (no open) a request with ~90 KiB of headers, once freed,
        // killed kiln. With one arena (kiln's main sets it first; again here for any other
        // process) the API thread allocates from the main arena, which shrinks with brk and
        // opens nothing. (It used to grow and shrink an arena of its own before its filter: ten
        // page faults of start-up.)
        _ = kiln_single_malloc_arena()
        let listener = try Self.listen(on: socketPath)
        let epoll = kiln_epoll_create()
        guard epoll >= 0, kiln_epoll_add(epoll, listener, KILN_EPOLLIN) == 0 else {
            let code = errno
            if epoll >= 0 { close(epoll) }
            close(listener)
            unlink(socketPath)
            throw ConfigurationError("API socket \(socketPath): epoll: \(String(cString: strerror(code)))")
        }
        let loop = APIServerLoop(listener: listener, epoll: epoll, channel: channel, seccomp: seccomp)
        if let failure = loop.start() {
            close(epoll)
            close(listener)
            unlink(socketPath)
            throw ConfigurationError("API socket \(socketPath): \(failure)")
        }
    }

    private static func listen(on path: String) throws(ConfigurationError) -> Int32 {
        switch ListeningUnixSocket.create(at: path, backlog: 16) {
        case .success(let fd):
            return fd
        case .failure(let failure) where failure.pathExists:
            throw ConfigurationError("API socket \(path) already exists (another kiln running? remove it first)")
        case .failure(let failure):
            throw ConfigurationError("API socket \(path): \(failure.operation.rawValue): \(String(cString: strerror(failure.errno)))")
        }
    }

    /// Removes the socket file (the process is about to exit).
    public func removeSocket() { unlink(socketPath) }
}

/// The `kiln_api` thread: its set-up (name, no capabilities, SIGPIPE blocked, filter), then
/// accepting and serving connections for the rest of the process.
final class APIServerLoop: @unchecked Sendable {
    private let listener: Int32
    private let epoll: Int32
    private let channel: RequestChannel
    private let seccomp: Bool
    /// Written by the thread once set up: 1 ready, 2 failed (`failure` says why).
    private let ready: Int32
    private let failure = Mutex<String?>(nil)
    private var connections: [APIConnection] = []
    /// Counts events, to tell which connection has been quiet longest.
    private var tick: UInt64 = 0
    /// The listener is out of the epoll set: the process had no descriptor left for a new
    /// connection and none to free (level-triggered, it would report the waiting client again
    /// and again). It goes back after `listenerPauseMilliseconds`.
    private var listenerPaused = false
    static let listenerPauseMilliseconds: Int32 = 100

    init(listener: Int32, epoll: Int32, channel: RequestChannel, seccomp: Bool) {
        self.listener = listener
        self.epoll = epoll
        self.channel = channel
        self.seccomp = seccomp
        ready = kiln_eventfd(0, KILN_EFD_CLOEXEC)
    }

    /// Starts the thread and waits for its set-up; nil when it serves, else why not.
    func start() -> String? {
        guard ready >= 0 else { return "eventfd: \(String(cString: strerror(errno)))" }
        defer { close(ready) }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { raw in
            Unmanaged<APIServerLoop>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, context)
        guard created == 0 else {
            Unmanaged<APIServerLoop>.fromOpaque(context).release()
            return "pthread_create: \(String(cString: strerror(created)))"
        }
        pthread_detach(thread)
        var value: UInt64 = 0
        while read(ready, &value, 8) < 0 && errno == EINTR {}
        return value == 1 ? nil : failure.withLock { $0 } ?? "the API thread did not start"
    }

    private func run() {
        _ = kiln_set_thread_name("kiln_api")
        ThreadCapabilities.enterThread(.none)
        // A client that hangs up before its answer is written: EPIPE, not a process-wide SIGPIPE.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        // Allocated before the filter, once: the read buffer every connection shares.
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        connections.reserveCapacity(APIServer.maxConnections)
        if seccomp {
            do {
                try Seccomp.install(.api)
            } catch {
                failure.withLock { $0 = "seccomp filter for the API thread: \(error)" }
                var failed: UInt64 = 2
                _ = write(ready, &failed, 8)
                return
            }
        }
        var started: UInt64 = 1
        _ = write(ready, &started, 8)
        serve(scratch)
    }

    private func serve(_ scratch: UnsafeMutableRawBufferPointer) {
        var fds = [Int32](repeating: 0, count: 16)
        var events = [UInt32](repeating: 0, count: 16)
        while true {
            let count = kiln_epoll_wait(epoll, &fds, &events, Int32(fds.count),
                                        listenerPaused ? Self.listenerPauseMilliseconds : -1)
            if listenerPaused {
                listenerPaused = kiln_epoll_add(epoll, listener, KILN_EPOLLIN) != 0
            }
            if count < 0 {
                if errno == EINTR { continue }
                fatalError("kiln_api: epoll_wait: \(String(cString: strerror(errno)))")
            }
            for index in 0..<Int(count) {
                if fds[index] == listener {
                    acceptAll()
                    continue
                }
                guard let position = connections.firstIndex(where: { $0.fd == fds[index] }) else { continue }
                let connection = connections[position]
                tick &+= 1
                connection.lastActive = tick
                let wasWriting = connection.wantsWrite
                if wasWriting {
                    if events[index] & (KILN_EPOLLOUT | KILN_EPOLLERR | KILN_EPOLLHUP) != 0 { connection.writable() }
                } else {
                    connection.readable(scratch)
                }
                if connection.finished {
                    drop(at: position)
                } else if connection.wantsWrite != wasWriting {
                    _ = kiln_epoll_modify(epoll, connection.fd, connection.wantsWrite ? KILN_EPOLLOUT : KILN_EPOLLIN)
                }
            }
        }
    }

    private func drop(at position: Int) {
        let connection = connections.remove(at: position)
        _ = kiln_epoll_remove(epoll, connection.fd)
        connection.close()
    }

    private func acceptAll() {
        while true {
            let fd = kiln_accept_nonblocking(listener)
            if fd < 0 {
                switch errno {
                case EINTR, ECONNABORTED: continue
                case EMFILE, ENFILE:
                    // Out of descriptors: the quietest connection makes room for the new client,
                    // as past maxConnections; with none to close, stop watching the listener
                    // for a while rather than wake for the same client in a loop.
                    if let quietest = connections.indices.min(by: { connections[$0].lastActive < connections[$1].lastActive }) {
                        drop(at: quietest)
                        continue
                    }
                    listenerPaused = kiln_epoll_remove(epoll, listener) == 0
                    return
                default: return  // EAGAIN: no more
                }
            }
            if connections.count >= APIServer.maxConnections,
               let quietest = connections.indices.min(by: { connections[$0].lastActive < connections[$1].lastActive }) {
                drop(at: quietest)
            }
            guard kiln_epoll_add(epoll, fd, KILN_EPOLLIN) == 0 else {
                close(fd)
                continue
            }
            tick &+= 1
            let connection = APIConnection(fd: fd, channel: channel)
            connection.lastActive = tick
            connections.append(connection)
        }
    }
}
