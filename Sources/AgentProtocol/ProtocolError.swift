/// Why a frame or a session could not be decoded or carried on. Every case ends the session it
/// happened in (see docs/agent-protocol.md, "Errors"), never the process.
public enum ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The length prefix is 0 or larger than `FrameLimits.maxFrameLength`.
    case badFrameLength(UInt32)
    /// The stream ended inside a frame (`have` of `need` bytes).
    case truncatedFrame(have: Int, need: Int)
    /// A field ran past the end of its frame.
    case truncatedField(String)
    /// A frame type this version does not define.
    case unknownMessageType(UInt8)
    /// A field holds a value outside its allowed range or format.
    case invalidField(String)
    /// Bytes left over after the last field of a message.
    case trailingBytes(type: UInt8, count: Int)
    /// The peer's hello has the wrong magic or an unsupported version.
    case badHello(String)
    /// A valid message arrived where the session's state does not allow it.
    case unexpectedMessage(String)
    /// A descriptor read or write failed.
    case io(operation: String, errno: Int32)
    /// The peer closed the stream where the protocol expected more.
    case closedByPeer(String)
    /// A message this side was asked to send does not fit in one frame.
    case frameTooLarge(message: String, bytes: Int)
    /// The peer did not answer (or the stream did not drain) before the operation's deadline.
    case timedOut(String)

    public var description: String {
        switch self {
        case .badFrameLength(let n): "bad frame length \(n) (allowed 1...\(FrameLimits.maxFrameLength))"
        case .truncatedFrame(let have, let need): "truncated frame: stream ended after \(have) of \(need) bytes"
        case .truncatedField(let name): "truncated field \(name)"
        case .unknownMessageType(let t): "unknown message type \(t)"
        case .invalidField(let what): "invalid field: \(what)"
        case .trailingBytes(let type, let count): "\(count) trailing bytes after message type \(type)"
        case .badHello(let why): "bad hello: \(why)"
        case .unexpectedMessage(let what): "unexpected message: \(what)"
        case .io(let op, let errno): "\(op) failed: errno \(errno)"
        case .closedByPeer(let when): "peer closed the stream \(when)"
        case .frameTooLarge(let name, let bytes):
            "a \(name) message of \(bytes) bytes exceeds the \(FrameLimits.maxFrameLength)-byte frame limit"
        case .timedOut(let what): "timed out \(what)"
        }
    }
}
