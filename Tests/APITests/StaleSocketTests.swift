@testable import API
import Devices
import Foundation
import Glibc
import Testing

/// Only a socket file nobody listens on is stale (what a VMM killed with SIGKILL leaves); the
/// API server takes such a path over and refuses every other existing file.
@Suite struct StaleSocketTests {
    let directory = NSTemporaryDirectory() + "kiln-stale-\(UUID().uuidString)"

    init() throws { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }

    /// A Unix socket bound at `path`; listening while the descriptor returned is open.
    func bound(_ path: String, listening: Bool) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        precondition(result == 0 && (!listening || listen(fd, 1) == 0))
        return fd
    }

    @Test func onlyASocketNobodyListensOnIsStale() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dead = directory + "/dead.sock"
        close(bound(dead, listening: true))
        #expect(StaleSocket.isStale(dead))

        let live = directory + "/live.sock"
        let listener = bound(live, listening: true)
        defer { close(listener) }
        #expect(!StaleSocket.isStale(live))

        let file = directory + "/file"
        FileManager.default.createFile(atPath: file, contents: Data())
        #expect(!StaleSocket.isStale(file))
        #expect(!StaleSocket.isStale(directory + "/missing"))
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: dead)
        #expect(!StaleSocket.isStale(directory + "/link"))
    }

    @Test func theServerTakesOverAStaleSocketAndRefusesALiveOne() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/api.sock"
        close(bound(path, listening: true))
        let server = try APIServer(socketPath: path, channel: RequestChannel(), seccomp: false)
        #expect(!StaleSocket.isStale(path))
        do {
            _ = try APIServer(socketPath: path, channel: RequestChannel(), seccomp: false)
            Issue.record("a second server took over a live socket")
        } catch {
            #expect(error.description.contains("already exists"))
        }
        server.removeSocket()
    }
}
