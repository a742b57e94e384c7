import Devices
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A `NetBackend` over one end of a SOCK_SEQPACKET socket pair: the device reads and writes
/// the same header-prefixed frames as with a TAP, and the test plays the host network on the
/// other end (`inject`, `nextFrame`). Records the offloads the device set.
public final class SocketPairNetBackend: NetBackend {
    public let fileDescriptor: Int32
    /// The test's end (blocking reads would hang a failing test, so it is non-blocking too).
    public let peer: Int32
    private let offloadLog = Mutex<[NetOffloads]>([])
    /// When set, `send` fails with this errno (a TAP refusing a frame's header).
    public let failSendsErrno = Atomic<Int32>(0)
    /// When set, `setOffloads` fails with this errno (a TAP that refuses an offload).
    public let failOffloadsErrno = Atomic<Int32>(0)

    public init() {
        var fds: [Int32] = [-1, -1]
        let result = socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                                    | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        precondition(result == 0, "socketpair failed (errno \(errno))")
        fileDescriptor = fds[0]
        peer = fds[1]
        // Room for several 64 KiB frames in flight.
        var size: Int32 = 1 << 20
        for fd in fds {
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    deinit {
        close(fileDescriptor)
        close(peer)
    }

    public var offloads: [NetOffloads] { offloadLog.withLock { $0 } }

    public func receive(into buffers: UnsafeBufferPointer<iovec>) throws(NetBackendError) -> Int? {
        try FrameIO.receive(fileDescriptor, into: buffers)
    }

    public func send(_ buffers: UnsafeBufferPointer<iovec>) throws(NetBackendError) {
        let error = failSendsErrno.load(ordering: .relaxed)
        guard error == 0 else { throw NetBackendError(operation: "writev", errno: error) }
        try FrameIO.send(fileDescriptor, buffers)
    }

    public func setOffloads(_ offloads: NetOffloads) throws(NetBackendError) {
        let error = failOffloadsErrno.load(ordering: .relaxed)
        guard error == 0 else { throw NetBackendError(operation: "TUNSETOFFLOAD", errno: error) }
        offloadLog.withLock { $0.append(offloads) }
    }

    /// Sends one frame (header included) from the host side; false if the socket is full.
    @discardableResult
    public func inject(_ frame: [UInt8]) -> Bool {
        frame.withUnsafeBytes { Glibc.send(peer, $0.baseAddress, $0.count, 0) } == frame.count
    }

    /// The next frame the device sent, or nil when none is waiting.
    public func nextFrame() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 1 << 17)
        let count = buffer.withUnsafeMutableBytes { recv(peer, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { return nil }
        return Array(buffer[0..<count])
    }

    /// Whether a frame the test injected is still waiting for the device.
    public var hasPendingFrame: Bool {
        var byte: UInt8 = 0
        return recv(fileDescriptor, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) >= 0
    }
}

extension SocketPairNetBackend {
    /// Ends the host side for reading: the device's next receive sees end of file, as it would
    /// if the backend went away. (Sends would raise SIGPIPE, so tests do not send after this.)
    public func shutDownPeerWrites() {
        _ = shutdown(peer, Int32(SHUT_WR))
    }
}
