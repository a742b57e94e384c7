import Dispatch
import Glibc
import Sandbox
import Testing

/// A sandbox whose guest never answers (no agent, a hung one, no vsock driver at all): the
/// power-off that `kiln rm` and the end of `kiln run` send must give up, not hang.
@Suite struct SilentGuestTests {
    /// A listening Unix socket that accepts connections and never writes a byte, like the VMM's
    /// vsock socket in front of a guest that never answers the CONNECT.
    private final class SilentListener {
        let path: String
        let fd: Int32

        init() throws {
            path = "/tmp/kiln-silent-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            try #require(fd >= 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                let bytes = Array(path.utf8)
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            try #require(bound == 0 && listen(fd, 4) == 0)
        }

        deinit {
            close(fd)
            unlink(path)
        }
    }

    @Test func powerOffGivesUpWhenTheHandshakeIsNeverAnswered() throws {
        let listener = try SilentListener()
        let start = monotonicSeconds()
        #expect(throws: SandboxError.self) {
            try SandboxJob.powerOff(endpoint: .hybridVsock(udsPath: listener.path), timeout: 0.3)
        }
        let elapsed = monotonicSeconds() - start
        #expect(elapsed >= 0.25 && elapsed < 5, "gave up after \(elapsed) s")
    }

    @Test func powerOffGivesUpWhenTheAgentNeverSaysHello() throws {
        let listener = try SilentListener()
        let serverFD = listener.fd
        let accepted = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        // Answers the hybrid handshake like the VMM does, then nothing: a hung agent.
        DispatchQueue.global().async {
            let connection = accept(serverFD, nil, nil)
            var line = [UInt8](repeating: 0, count: 64)
            _ = read(connection, &line, line.count)
            let ok = Array("OK 1024\n".utf8)
            _ = write(connection, ok, ok.count)
            accepted.signal()
            release.wait()
            close(connection)
        }
        let start = monotonicSeconds()
        #expect(throws: SandboxError.self) {
            try SandboxJob.powerOff(endpoint: .hybridVsock(udsPath: listener.path), timeout: 0.3)
        }
        let elapsed = monotonicSeconds() - start
        release.signal()
        #expect(accepted.wait(timeout: .now() + 5) == .success)
        #expect(elapsed >= 0.25 && elapsed < 5, "gave up after \(elapsed) s")
    }

    private func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
