import AgentProtocol
import Glibc

/// copy-in: the host sends file-data chunks adding up to exactly `size`, then file-end. The file
/// is written to a temporary name beside `path` and renamed on success, so a broken transfer
/// never leaves a partial file under the real name.
func receiveFile(path: String, mode: UInt32, size: UInt64, channel: inout FrameChannel) throws(AgentError) {
    let temporary = path + ".kiln-partial"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode_t(0o600))
    guard fd >= 0 else { throw .system(operation: "open \(path)", errno: errno) }
    var renamed = false
    defer {
        close(fd)
        if !renamed { unlink(temporary) }
    }
    var received: UInt64 = 0
    while true {
        guard let message = try wrap({ () throws(ProtocolError) in try channel.receive() }) else {
            throw .protocolError(.closedByPeer("during copy-in after \(received) of \(size) bytes"))
        }
        switch message {
        case .fileData(let data):
            guard UInt64(data.count) <= size - received else {
                throw .protocolError(.invalidField("copy-in data exceeds the announced \(size) bytes"))
            }
            try writeAll(fd: fd, data, what: "write \(path)")
            received += UInt64(data.count)
        case .fileEnd:
            guard received == size else {
                throw .protocolError(.invalidField("copy-in ended after \(received) of \(size) bytes"))
            }
            guard fchmod(fd, mode_t(mode)) == 0 else { throw .system(operation: "fchmod \(path)", errno: errno) }
            guard fsync(fd) == 0 else { throw .system(operation: "fsync \(path)", errno: errno) }
            guard rename(temporary, path) == 0 else { throw .system(operation: "rename to \(path)", errno: errno) }
            renamed = true
            try wrap { () throws(ProtocolError) in try channel.send(.ok) }
            return
        default:
            throw .protocolError(.unexpectedMessage("\(message.name) during copy-in"))
        }
    }
}

/// copy-out: file-info (mode, size), the bytes in chunks, file-end. Only regular files.
func sendFile(path: String, channel: inout FrameChannel) throws(AgentError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .system(operation: "open \(path)", errno: errno) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw .system(operation: "fstat \(path)", errno: errno) }
    guard info.st_mode & S_IFMT == S_IFREG else { throw .system(operation: "copy-out \(path) (not a regular file)", errno: EINVAL) }
    let size = UInt64(info.st_size)
    try wrap { () throws(ProtocolError) in try channel.send(.fileInfo(mode: UInt32(info.st_mode & 0o7777), size: size)) }
    var chunk = [UInt8](repeating: 0, count: FrameLimits.maxChunk)
    var sent: UInt64 = 0
    // Exactly the announced size: a file that grows meanwhile is cut, one that shrinks is an error.
    while sent < size {
        let want = Int(min(UInt64(chunk.count), size - sent))
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
        if n < 0 {
            if errno == EINTR { continue }
            throw .system(operation: "read \(path)", errno: errno)
        }
        if n == 0 { throw .system(operation: "read \(path) (file shrank)", errno: EIO) }
        try wrap { () throws(ProtocolError) in try channel.send(.fileData(Array(chunk[0..<n]))) }
        sent += UInt64(n)
    }
    try wrap { () throws(ProtocolError) in try channel.send(.fileEnd) }
}

func writeAll(fd: Int32, _ bytes: [UInt8], what: String) throws(AgentError) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 {
            if errno == EINTR { continue }
            throw .system(operation: what, errno: errno)
        }
        offset += n
    }
}
