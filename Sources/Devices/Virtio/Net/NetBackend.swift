#if canImport(Glibc)
import Glibc
#endif

/// Where a virtio-net device's frames go and come from: a TAP in the VMM, a socket pair in
/// tests. Every frame crosses with its 12-byte `virtio_net_hdr_v1` in front (IFF_VNET_HDR).
///
/// The descriptor must be non-blocking and keep frame boundaries (a TAP, or a SOCK_SEQPACKET
/// or SOCK_DGRAM socket): one `receive` is one frame, one `send` is one frame.
public protocol NetBackend: AnyObject, Sendable {
    /// Watched by the device loop for readability.
    var fileDescriptor: Int32 { get }
    /// Reads one frame into `buffers` (scattered, in order). Returns its length, or nil when
    /// no frame is waiting. A frame longer than the buffers is cut short by the kernel.
    func receive(into buffers: UnsafeBufferPointer<iovec>) throws(NetBackendError) -> Int?
    /// Writes `buffers` (gathered, in order) as one frame.
    func send(_ buffers: UnsafeBufferPointer<iovec>) throws(NetBackendError)
    /// Tells the host which offloaded frames the guest accepts (TUNSETOFFLOAD for a TAP).
    func setOffloads(_ offloads: NetOffloads) throws(NetBackendError)
}

public struct NetBackendError: Error, Equatable, Sendable, CustomStringConvertible {
    public let operation: String
    public let errno: Int32
    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }
    public var description: String { "\(operation) failed (errno \(errno))" }
}

/// readv/writev on a frame-preserving descriptor, shared by the TAP and the test backends.
public enum FrameIO {
    /// One readv; nil for EAGAIN, 0 for end of file (a closed socket peer).
    public static func receive(_ fd: Int32, into buffers: UnsafeBufferPointer<iovec>) throws(NetBackendError) -> Int? {
        while true {
            let count = readv(fd, buffers.baseAddress, Int32(buffers.count))
            if count >= 0 { return count }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            default: throw NetBackendError(operation: "readv", errno: errno)
            }
        }
    }

    /// One writev; a short write of a frame-preserving descriptor does not happen, and is
    /// reported as EMSGSIZE if it does.
    public static func send(_ fd: Int32, _ buffers: UnsafeBufferPointer<iovec>) throws(NetBackendError) {
        var total = 0
        for buffer in buffers { total += buffer.iov_len }
        while true {
            let count = writev(fd, buffers.baseAddress, Int32(buffers.count))
            if count == total { return }
            if count >= 0 { throw NetBackendError(operation: "writev (short)", errno: EMSGSIZE) }
            if errno == EINTR { continue }
            throw NetBackendError(operation: "writev", errno: errno)
        }
    }
}
