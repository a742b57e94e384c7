import AgentCore
import AgentProtocol
import Dispatch
import Glibc
import Sandbox
import Synchronization
import Testing

/// The agent's session code on one end of a socketpair (in a thread, as the agent runs it), the
/// host's end for the test. Real child processes, no VM.
final class AgentHarness: Sendable {
    let hostFD: Int32
    let agentFD: Int32
    private let state = SharedState()
    private let done = DispatchSemaphore(value: 0)

    /// What the agent thread reports back (set once, read after `done`).
    private final class SharedState: Sendable {
        let outcome = Mutex<AgentError??>(nil)
        let poweredOff = Mutex(false)
    }

    init(restore: RestoreNotice = RestoreNotice(setClock: { _ in EPERM })) {
        var fds: [Int32] = [-1, -1]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        hostFD = fds[0]
        agentFD = fds[1]
        let state = state
        let context = SessionContext(children: AgentHarness.children, powerOff: {
            state.poweredOff.withLock { $0 = true }
        }, restore: restore)
        let agentFD = agentFD
        let done = done
        DispatchQueue.global().async {
            let error = serveSession(fd: agentFD, context: context)
            close(agentFD)
            state.outcome.withLock { $0 = .some(error) }
            done.signal()
        }
    }

    static let children = ChildRegistry()

    var poweredOff: Bool { state.poweredOff.withLock { $0 } }

    /// Waits for the agent side to end the session; its error, if any.
    func agentResult() -> AgentError? {
        done.wait()
        done.signal()
        return state.outcome.withLock { $0 ?? nil }
    }

    deinit { close(hostFD) }
}

/// A temporary directory removed at the end of the test.
final class Scratch {
    let path: String
    init() {
        var template = Array("/tmp/kiln-agent-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }
    deinit {
        var child: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("rm"), strdup("-rf"), strdup(path), nil]
        if posix_spawnp(&child, "rm", nil, nil, argv, environ) == 0 {
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
        argv.forEach { free($0) }
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }
}

/// An open temporary file to receive a stream, read back after the run.
struct Capture: ~Copyable {
    let fd: Int32
    init(_ scratch: Scratch, _ name: String) {
        fd = open(scratch.file(name), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0)
    }
    func bytes() -> [UInt8] { readAll(fd: fd, from: 0) }
    func text() -> String { String(decoding: bytes(), as: UTF8.self) }
    deinit { close(fd) }
}

func readAll(fd: Int32, from offset: off_t) -> [UInt8] {
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var at = offset
    while true {
        let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, at) }
        if n <= 0 { break }
        result += chunk[0..<n]
        at += off_t(n)
    }
    return result
}

func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return readAll(fd: fd, from: 0)
}

func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    precondition(fd >= 0)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        precondition(n > 0)
        offset += n
    }
    fchmod(fd, mode)
    close(fd)
}

func randomBytes(_ count: Int) -> [UInt8] {
    let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
    precondition(fd >= 0)
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, count - filled) }
        precondition(n > 0)
        filled += n
    }
    return bytes
}

/// Runs a command through a fresh agent session; returns status, stdout, stderr.
func runThroughAgent(_ request: ExecRequest, stdin: Int32? = nil, signals: Int32? = nil)
    throws -> (status: AgentProtocol.ExitStatus, out: [UInt8], err: [UInt8])
{
    let scratch = Scratch()
    let harness = AgentHarness()
    let out = Capture(scratch, "stdout")
    let err = Capture(scratch, "stderr")
    let client = try AgentClient(fd: harness.hostFD)
    let status = try client.run(request, stdin: stdin, stdout: out.fd, stderr: err.fd, signals: signals)
    #expect(harness.agentResult() == nil)
    return (status, out.bytes(), err.bytes())
}

/// A frame the test knows fits (an encoding failure gives no bytes, which the test then sees).
func encodeFrame(_ message: Message) -> [UInt8] {
    (try? FrameCodec.encode(message)) ?? []
}
