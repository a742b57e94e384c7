import Devices
import GuestMemory
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The vsock socket path: one per fuzzing process, recreated for each input. A listener at
/// `PATH_1024` lets guest connections to port 1024 reach a host socket.
private let vsockPath: String = {
    mkdir(fuzzScratch, 0o700)
    return fuzzScratch + "/vsock.sock"
}()
nonisolated(unsafe) private var hostListener: Int32 = -1

private func unixSocket(_ path: String, listen: Bool) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard fd >= 0 else { return -1 }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            listen ? bind(fd, pointer, socklen_t(MemoryLayout<sockaddr_un>.size))
                   : connect(fd, pointer, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
    if listen && result == 0 { _ = Glibc.listen(fd, 64) }
    // A non-blocking connect to a Unix socket either succeeds or fails at once.
    guard result == 0 else { close(fd); return -1 }
    return fd
}

let vsockTarget = FuzzTarget(name: "vsock", guestFacing: true, run: { bytes in
    var input = FuzzInput(bytes)
    let variant = input.byte()
    if hostListener < 0 {
        unlink(vsockPath + "_1024")
        hostListener = unixSocket(vsockPath + "_1024", listen: true)
    }
    // Host connections the listener never accepted would fill its backlog: drop them.
    while case let fd = accept(hostListener, nil, nil), fd >= 0 { close(fd) }
    unlink(vsockPath)
    // Few connection slots and small buffers, so the limits and credit edges are reached.
    let vsock = try! Vsock(guestCID: 3, udsPath: vsockPath, queueSize: 16,
                           bufferAllocation: [4096, 65536, 262_144][Int(variant % 3)], maxConnections: 1 + Int(variant >> 5))
    let session = VirtioSession(device: vsock)
    let events = MockDeviceEvents(transport: session.driver.transport)
    try! vsock.connect(events: events)
    var hostClients: [Int32] = []
    defer { hostClients.forEach { close($0) } }
    session.chainBuilder = { index, input in
        guard index == Vsock.txQueue else {
            // RX and event buffers: a header and room for data, or any size.
            return [.writable(input.byte() < 200 ? [44, 44 + 4096, 8, 60][input.below(4)] : input.below(70000))]
        }
        var header = VsockHeader()
        header.sourceCID = input.byte() < 240 ? 3 : input.integer(UInt64.self)
        header.destinationCID = input.byte() < 240 ? VsockHeader.hostCID : input.integer(UInt64.self)
        header.sourcePort = UInt32(input.byte() % 4) + 5000
        header.destinationPort = input.byte() < 200 ? 1024 : input.integer(UInt32.self)
        header.type = input.byte() < 240 ? VsockHeader.typeStream : input.integer(UInt16.self)
        header.op = UInt16(input.byte() % 9)
        header.flags = UInt32(input.byte() % 4)
        header.bufferAllocation = input.byte() < 128 ? 65536 : input.integer(UInt32.self)
        header.forwardCount = input.integer(UInt32.self)
        let payload = header.op == VsockHeader.Op.rw.rawValue ? input.bytes(upTo: 1024) : []
        header.length = input.byte() < 240 ? UInt32(payload.count) : input.integer(UInt32.self)
        return input.bool() ? [.readable(header.encodedForFuzz + payload)] : [.readable(header.encodedForFuzz), .readable(payload)]
    }
    session.deviceOperation = { input in
        switch input.byte() % 4 {
        case 0:
            // A host application connecting in, with a CONNECT line (or garbage).
            guard hostClients.count < 8 else { return }
            let fd = unixSocket(vsockPath, listen: false)
            guard fd >= 0 else { return }
            hostClients.append(fd)
            let line = input.bool() ? Array("CONNECT \(Int(input.byte() % 4) + 5000)\n".utf8) : input.bytes(upTo: 64)
            _ = line.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        case 1:
            guard !hostClients.isEmpty else { return }
            let data = input.bytes(upTo: 2048)
            _ = data.withUnsafeBytes { send(hostClients[input.below(hostClients.count)], $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        case 2:
            guard !hostClients.isEmpty else { return }
            let index = input.below(hostClients.count)
            close(hostClients.remove(at: index))
        default:
            break
        }
        // The loop wakes every watched descriptor (spurious wake-ups included).
        for fd in events.watches.keys.sorted() { events.fireReadable(fd) }
    }
    session.start(&input)
    session.play(&input)
    if verboseFuzzing { printError("vsock: \(vsock.counters)\n") }
}, seeds: {
    var header: [UInt8] = []
    header.append(le: UInt64(3)); header.append(le: UInt64(2)); header.append(le: UInt32(5000)); header.append(le: UInt32(1024))
    header.append(le: UInt32(0)); header.append(le: UInt16(1)); header.append(le: UInt16(1)); header.append(le: UInt32(0))
    header.append(le: UInt32(65536)); header.append(le: UInt32(0))
    return virtioSeeds(request: header)
})

extension VsockHeader {
    /// The 44 wire bytes (the device's own encoder is internal to it).
    var encodedForFuzz: [UInt8] {
        var bytes: [UInt8] = []
        bytes.append(le: sourceCID); bytes.append(le: destinationCID)
        bytes.append(le: sourcePort); bytes.append(le: destinationPort)
        bytes.append(le: length); bytes.append(le: type); bytes.append(le: op)
        bytes.append(le: flags); bytes.append(le: bufferAllocation); bytes.append(le: forwardCount)
        return bytes
    }
}

/// A small tree served read-only: files, a directory, a symlink out of the share, a FIFO.
private let sharedDirectory: String = {
    let base = fuzzScratch + "/shared"
    mkdir(fuzzScratch, 0o700)
    mkdir(base, 0o755)
    mkdir(base + "/dir", 0o755)
    for (path, text) in [("/a.txt", "hello\n"), ("/dir/b", String(repeating: "x", count: 5000))] {
        let fd = open(base + path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
    symlink("/etc/passwd", base + "/escape")
    symlink("dir/b", base + "/inside")
    mkfifo(base + "/fifo", 0o644)
    return base
}()

let fsTarget = FuzzTarget(name: "fs", guestFacing: true, run: { bytes in
    var input = FuzzInput(bytes)
    _ = input.byte()
    let fs = try! Fs(tag: "fuzz", sharedDirectory: sharedDirectory, requestQueues: 1, queueSize: 16)
    let session = VirtioSession(device: fs)
    session.chainBuilder = { _, input in
        let opcodes = FuseMessage.Opcode.allCases
        let opcode = input.byte() < 240 ? opcodes[input.below(opcodes.count)].rawValue : input.integer(UInt32.self)
        let node = input.byte() < 224 ? UInt64(input.byte() % 8) : input.integer(UInt64.self)
        let arguments = input.bytes(upTo: 512)
        let length: UInt32? = input.byte() < 224 ? nil : input.integer(UInt32.self)
        let request = FuseMessage.request(rawOpcode: opcode, unique: UInt64(input.byte()), node: node,
                                          arguments: arguments, length: length)
        // The reply: one buffer of a usual size, or any number and sizes.
        let reply: [ChainBuffer] = input.byte() < 200 ? [.writable([4096, 16, 8192, 136][input.below(4)])]
                                                     : (0..<(input.byte() % 4)).map { _ in .writable(input.below(9000)) }
        return [.readable(request)] + reply
    }
    session.start(&input)
    session.play(&input)
    if verboseFuzzing { printError("fs: \(fs.counters)\n") }
}, seeds: {
    [FuseMessage.request(.initialize, arguments: FuseMessage.initArguments()),
     FuseMessage.request(.lookup, arguments: FuseMessage.name("a.txt")),
     FuseMessage.request(.read, node: 2, arguments: FuseMessage.readArguments(handle: 0, offset: 0, size: 100)),
     FuseMessage.request(.readdirplus, arguments: FuseMessage.readArguments(handle: 0, offset: 0, size: 4096))]
        .flatMap { virtioSeeds(request: $0) }
})
