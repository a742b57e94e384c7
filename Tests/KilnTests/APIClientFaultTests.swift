import Foundation
import Glibc
import Testing

/// API clients that go away mid-request while a VM runs (the counter guest on this machine's
/// /dev/kvm): after part of the request line, part of the headers, part of a body, or right
/// after a whole request without reading the answer, by close or by reset. kiln applies none
/// of the partial requests, keeps serving, keeps the VM running and holds no descriptor for
/// any of those clients afterwards. (Tests/API/conformance.py covers one truncated body before
/// InstanceStart.)
@Suite(.serialized) struct APIClientFaultTests {
    /// Connects to `path`, sends `bytes`, then closes: with `reset`, by an abortive close
    /// (SO_LINGER 0: a reset instead of an orderly end of stream).
    static func sendAndVanish(_ path: String, _ bytes: [UInt8], reset: Bool) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw KilnTestError("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw KilnTestError("connect \(path): errno \(errno)") }
        if !bytes.isEmpty {
            guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
                throw KilnTestError("send: errno \(errno)")
            }
        }
        if reset {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        }
    }

    static func descriptors(of pid: pid_t) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
    }

    /// Requests cut short, each one that would change the VM if it arrived whole.
    static let partialRequests: [String] = [
        "",
        "PAT",
        "PATCH /vm HTTP/1.1\r\nHost: x\r\nContent-Ty",
        "PATCH /vm HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n",
        "PATCH /vm HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"state\": \"Pau",
        "PATCH /vm HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n{\"state\": \"Pau",
        // Whole requests whose answer nobody reads.
        "GET /vm/config HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /machine-config HTTP/1.1\r\nHost: x\r\n\r\nGET /machine-config HTTP/1.1\r\nHost: x\r\n\r\nGET /vm/config HTTP/1.1\r\nHost: x\r\n\r\n",
    ]

    @Test func clientsVanishingMidRequestChangeNothingAndLeakNothing() throws {
        let scratch = try FaultScratch("apiclient")
        let socket = scratch.files + "/api.sock"
        let kiln = try BackgroundKiln(["boot", "--kernel", try KilnProcess.guest("counter.elf"), "--memory", "64", "--no-stdin",
                                       "--control-sock", socket], directory: scratch.files, name: "boot")
        defer { kiln.kill() }
        #expect(kiln.waitForOutput { $0.counterLines.count > 2 }, "\(kiln.errors)")
        let pid = kiln.process.processIdentifier
        #expect(try APISocketClient.send(socket, "GET", "/machine-config").status == 200)
        let before = Self.descriptors(of: pid)

        for round in 0..<20 {
            for request in Self.partialRequests {
                try Self.sendAndVanish(socket, Array(request.utf8), reset: round % 2 == 1)
            }
        }
        // Still serving; the VM was never paused and runs on.
        #expect(try APISocketClient.send(socket, "GET", "/machine-config").status == 200, "\(kiln.errors)")
        let counted = kiln.output.counterLines.count
        #expect(kiln.waitForOutput { $0.counterLines.count > counted + 3 }, "the VM stopped counting: \(kiln.errors)")
        #expect(kiln.process.isRunning)
        // The server closes each connection on its own event loop: give it a moment.
        let deadline = Date().addingTimeInterval(5)
        var after = Self.descriptors(of: pid)
        while after > before && Date() < deadline { usleep(20_000); after = Self.descriptors(of: pid) }
        #expect(after == before, "kiln held \(before) descriptors before the clients and \(after) after")
        // A pause now takes effect, so the ones above were really not applied.
        #expect(try APISocketClient.send(socket, "PATCH", "/vm", #"{"state": "Paused"}"#).status == 204)
        usleep(300_000)
        let paused = kiln.output.counterLines.count
        usleep(700_000)
        #expect(kiln.output.counterLines.count == paused, "the VM counted on after a pause")
    }
}
