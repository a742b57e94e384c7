/// Frame = u32 big-endian length L (1...maxFrameLength) + L bytes: a type byte and the body.
public enum FrameCodec {
    /// The complete frame (length prefix included) for one message. Never traps: an `error`
    /// whose text would not fit is truncated (the agent is PID 1; a trap would panic the
    /// guest), and any other message that would exceed a frame or the list limits is refused
    /// with `frameTooLarge` / `invalidField`, so the caller reports it instead.
    public static func encode(_ message: Message) throws(ProtocolError) -> [UInt8] {
        if case .error(let code, let text) = message, text.utf8.count > maxErrorText {
            return try encode(.error(code: code, message: fitting(text, room: maxErrorText)))
        }
        if case .exec(let request) = message {
            for (name, list) in [("argv", request.argv), ("env", request.env)] where list.count > FrameLimits.maxListCount {
                throw .invalidField("exec.\(name) has \(list.count) entries (at most \(FrameLimits.maxListCount))")
            }
            guard request.groups.count <= FrameLimits.maxGroups else {
                throw .invalidField("exec.groups has \(request.groups.count) entries (at most \(FrameLimits.maxGroups))")
            }
            if let problem = limitsProblem(request.limits) { throw .invalidField(problem) }
        }
        var body = ByteWriter()
        body.u8(message.typeByte)
        switch message {
        case .hello(let version):
            body.u32(FrameLimits.helloMagic)
            body.u32(version)
        case .exec(let request):
            body.stringList(request.argv)
            body.stringList(request.env)
            body.string(request.cwd)
            body.u32(request.uid)
            body.u32(request.gid)
            body.u32(request.stdin ? 1 : 0)
            if request.isExtended {
                body.u32(request.makeCwd ? 1 : 0)
                body.u32(UInt32(request.groups.count))
                for group in request.groups { body.u32(group) }
                body.u32(UInt32(request.limits.count))
                for limit in request.limits {
                    body.u32(limit.resource)
                    body.u64(limit.soft)
                    body.u64(limit.hard)
                }
            }
        case .stdinData(let data), .stdout(let data), .stderr(let data), .fileData(let data):
            body.bytes.append(contentsOf: data)
        case .stdinClose, .fileEnd, .powerOff, .ok:
            break
        case .exit(let status):
            switch status {
            case .exited(let code): body.u8(0); body.u32(UInt32(bitPattern: code))
            case .signaled(let signal): body.u8(1); body.u32(UInt32(bitPattern: signal))
            }
        case .signal(let number):
            body.u32(UInt32(bitPattern: number))
        case .copyIn(let path, let mode, let size):
            body.string(path)
            body.u32(mode)
            body.u64(size)
        case .copyOut(let path):
            body.string(path)
        case .fileInfo(let mode, let size):
            body.u32(mode)
            body.u64(size)
        case .error(let code, let message):
            body.u32(code)
            body.string(message)
        case .restored(let seconds, let nanoseconds):
            body.u64(seconds)
            body.u32(nanoseconds)
        }
        guard body.bytes.count <= Int(FrameLimits.maxFrameLength) else {
            throw .frameTooLarge(message: message.name, bytes: body.bytes.count)
        }
        var frame = ByteWriter()
        frame.u32(UInt32(body.bytes.count))
        frame.bytes.append(contentsOf: body.bytes)
        return frame.bytes
    }

    /// Room for an error message's text: the frame less the type byte, code and length fields.
    static let maxErrorText = Int(FrameLimits.maxFrameLength) - 1 - 4 - 4

    /// `text` cut to at most `room` UTF-8 bytes at a character boundary, marked as cut.
    static func fitting(_ text: String, room: Int) -> String {
        guard text.utf8.count > room else { return text }
        let marker = " [truncated]"
        var cut = ""
        cut.reserveCapacity(room)
        var used = 0
        for character in text {
            let size = character.utf8.count
            guard used + size <= room - marker.utf8.count else { break }
            cut.append(character)
            used += size
        }
        return cut + marker
    }

    /// Decodes one frame's contents (type byte + body, without the length prefix).
    public static func decode(frame: [UInt8]) throws(ProtocolError) -> Message {
        var reader = ByteReader(frame)
        let type = try reader.u8("type")
        let message: Message
        switch type {
        case 0x01:
            let magic = try reader.u32("hello.magic")
            guard magic == FrameLimits.helloMagic else { throw .badHello("magic 0x\(String(magic, radix: 16))") }
            message = .hello(version: try reader.u32("hello.version"))
        case 0x02, 0x12:
            let argv = try reader.stringList("exec.argv")
            guard !argv.isEmpty, !argv[0].isEmpty else { throw .invalidField("exec.argv is empty") }
            let env = try reader.stringList("exec.env")
            for entry in env where !entry.contains("=") || entry.hasPrefix("=") {
                throw .invalidField("exec.env entry without NAME=")
            }
            let cwd = try reader.string("exec.cwd")
            let uid = try reader.u32("exec.uid")
            let gid = try reader.u32("exec.gid")
            let flags = try reader.u32("exec.flags")
            guard flags & ~1 == 0 else { throw .invalidField("exec.flags 0x\(String(flags, radix: 16))") }
            var request = ExecRequest(argv: argv, env: env, cwd: cwd, uid: uid, gid: gid, stdin: flags & 1 != 0)
            if type == 0x12 { try decodeExtension(&reader, into: &request) }
            message = .exec(request)
        case 0x03: message = .stdinData(reader.rest())
        case 0x04: message = .stdinClose
        case 0x05: message = .stdout(reader.rest())
        case 0x06: message = .stderr(reader.rest())
        case 0x07:
            let kind = try reader.u8("exit.kind")
            let value = Int32(bitPattern: try reader.u32("exit.value"))
            switch kind {
            case 0 where (0...255).contains(value): message = .exit(.exited(value))
            case 1 where (1...64).contains(value): message = .exit(.signaled(value))
            default: throw .invalidField("exit kind \(kind) value \(value)")
            }
        case 0x08:
            let number = Int32(bitPattern: try reader.u32("signal.number"))
            guard (1...64).contains(number) else { throw .invalidField("signal number \(number)") }
            message = .signal(number)
        case 0x09:
            let path = try reader.string("copy-in.path")
            let mode = try reader.u32("copy-in.mode")
            guard mode & ~0o7777 == 0 else { throw .invalidField("copy-in.mode 0o\(String(mode, radix: 8))") }
            message = .copyIn(path: try nonEmptyPath(path, "copy-in.path"), mode: mode, size: try reader.u64("copy-in.size"))
        case 0x0A:
            message = .copyOut(path: try nonEmptyPath(try reader.string("copy-out.path"), "copy-out.path"))
        case 0x0B:
            let mode = try reader.u32("file-info.mode")
            guard mode & ~0o7777 == 0 else { throw .invalidField("file-info.mode 0o\(String(mode, radix: 8))") }
            message = .fileInfo(mode: mode, size: try reader.u64("file-info.size"))
        case 0x0C: message = .fileData(reader.rest())
        case 0x0D: message = .fileEnd
        case 0x0E: message = .powerOff
        case 0x0F: message = .ok
        case 0x10:
            let code = try reader.u32("error.code")
            message = .error(code: code, message: try reader.string("error.message"))
        case 0x11:
            let seconds = try reader.u64("restored.seconds")
            // A time_t the guest can hold; nanoseconds below one second.
            guard seconds <= UInt64(Int64.max) else { throw .invalidField("restored.seconds \(seconds)") }
            let nanoseconds = try reader.u32("restored.nanoseconds")
            guard nanoseconds < 1_000_000_000 else { throw .invalidField("restored.nanoseconds \(nanoseconds)") }
            message = .restored(seconds: seconds, nanoseconds: nanoseconds)
        default:
            throw .unknownMessageType(type)
        }
        guard reader.remaining == 0 else { throw .trailingBytes(type: type, count: reader.remaining) }
        return message
    }

    /// The fields an extended exec (0x12) adds after a plain exec's body.
    private static func decodeExtension(_ reader: inout ByteReader, into request: inout ExecRequest) throws(ProtocolError) {
        let options = try reader.u32("exec.options")
        guard options & ~1 == 0 else { throw .invalidField("exec.options 0x\(String(options, radix: 16))") }
        request.makeCwd = options & 1 != 0
        let groupCount = try reader.u32("exec.groups.count")
        // Checked against the bytes left before anything is reserved: a hostile count cannot allocate.
        guard groupCount <= FrameLimits.maxGroups, Int(groupCount) * 4 <= reader.remaining else {
            throw .invalidField("exec.groups.count \(groupCount)")
        }
        request.groups.reserveCapacity(Int(groupCount))
        for _ in 0..<groupCount { request.groups.append(try reader.u32("exec.groups")) }
        let limitCount = try reader.u32("exec.limits.count")
        guard limitCount <= ResourceLimit.resourceCount else { throw .invalidField("exec.limits.count \(limitCount)") }
        for _ in 0..<limitCount {
            request.limits.append(ResourceLimit(resource: try reader.u32("exec.limits.resource"),
                                                soft: try reader.u64("exec.limits.soft"),
                                                hard: try reader.u64("exec.limits.hard")))
        }
        if let problem = limitsProblem(request.limits) { throw .invalidField(problem) }
        guard request.isExtended else { throw .invalidField("extended exec without groups, limits or options") }
    }

    /// What is wrong with a list of resource limits: a resource Linux does not have, one given
    /// twice, or a soft value above the hard one.
    static func limitsProblem(_ limits: [ResourceLimit]) -> String? {
        var seen: UInt32 = 0
        for limit in limits {
            guard limit.resource < ResourceLimit.resourceCount else { return "exec.limits resource \(limit.resource)" }
            guard seen & (1 << limit.resource) == 0 else { return "exec.limits resource \(limit.resource) given twice" }
            seen |= 1 << limit.resource
            guard limit.soft <= limit.hard else { return "exec.limits resource \(limit.resource): soft \(limit.soft) above hard \(limit.hard)" }
        }
        return nil
    }

    private static func nonEmptyPath(_ path: String, _ field: String) throws(ProtocolError) -> String {
        guard !path.isEmpty else { throw .invalidField("\(field) is empty") }
        return path
    }
}

/// Splits a byte stream into frames as bytes arrive. Checks each length prefix before
/// buffering the frame, so a hostile length cannot make the receiver allocate.
public struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Bytes received and not yet returned as a frame.
    public var pendingCount: Int { buffer.count - start }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// The next complete message, nil when more bytes are needed.
    public mutating func next() throws(ProtocolError) -> Message? {
        guard pendingCount >= 4 else { return nil }
        var length: UInt32 = 0
        for i in 0..<4 { length = length << 8 | UInt32(buffer[start + i]) }
        guard length >= 1, length <= FrameLimits.maxFrameLength else { throw .badFrameLength(length) }
        let total = 4 + Int(length)
        guard pendingCount >= total else { return nil }
        let frame = Array(buffer[(start + 4)..<(start + total)])
        start += total
        return try FrameCodec.decode(frame: frame)
    }

    /// Called when the stream ended: throws if it ended inside a frame.
    public func finish() throws(ProtocolError) {
        guard pendingCount > 0 else { return }
        var need = 4
        if pendingCount >= 4 {
            var length: UInt32 = 0
            for i in 0..<4 { length = length << 8 | UInt32(buffer[start + i]) }
            need = 4 + Int(length)
        }
        throw .truncatedFrame(have: pendingCount, need: need)
    }

    // Drops consumed bytes once they are the larger part of the buffer (amortised O(1)).
    private mutating func compact() {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}
