@testable import Devices
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The API and vsock listeners appear at their path only once they listen (bound under a
/// staging name, linked into place): CI once saw a client refused between bind and listen.
@Suite(.serialized) struct ListeningUnixSocketTests {
    let directory = NSTemporaryDirectory() + "kiln-listen-\(UUID().uuidString)"

    init() throws { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }

    func entries() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory).sorted() }

    /// What was at `path` in the moment between bind and listen, for each listener made there.
    func seenBetweenBindAndListen(at path: String, _ make: () throws -> Int32) rethrows -> (fd: Int32, seen: [String]) {
        let seen = Mutex<[String]>([])
        ListeningUnixSocket.afterBindForTesting.withLock {
            $0 = { publicPath in
                guard publicPath == path else { return }  // another suite's listener
                var info = stat()
                seen.withLock { $0.append(lstat(publicPath, &info) == 0 ? "a file" : "nothing") }
            }
        }
        defer { ListeningUnixSocket.afterBindForTesting.withLock { $0 = nil } }
        let fd = try make()
        return (fd, seen.withLock { $0 })
    }

    @Test(arguments: ["helper", "vsock"])
    func nothingIsAtThePathBetweenBindAndListen(listener: String) throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/\(listener).sock"
        let (fd, seen) = try seenBetweenBindAndListen(at: path) {
            listener == "vsock" ? try VsockHostSockets.listen(path: path)
                                : try ListeningUnixSocket.create(at: path, backlog: 4).get()
        }
        defer { close(fd) }
        #expect(seen == ["nothing"])
        #expect(!StaleSocket.isStale(path), "the socket at the path listens")
        #expect(try entries() == ["\(listener).sock"], "no staging name left")
    }

    @Test func aFileAtThePathIsNeverReplaced() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/api.sock"
        FileManager.default.createFile(atPath: path, contents: Data("mine".utf8))
        let result = ListeningUnixSocket.create(at: path, backlog: 4)
        guard case .failure(let failure) = result else { Issue.record("replaced a file: \(result)"); return }
        #expect(failure.operation == .link && failure.errno == EEXIST && failure.pathExists)
        #expect(FileManager.default.contents(atPath: path) == Data("mine".utf8))
        #expect(try entries() == ["api.sock"])
    }

    /// A staging socket a killed VMM left (its pid reused by us) is replaced; anything else at
    /// the staging name fails the bind and is left alone.
    @Test func aLeftoverStagingSocketIsReplacedAndAnythingElseLeftAlone() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/api.sock"
        let staging = path + ".\(getpid()).tmp"
        let leftover = try ListeningUnixSocket.create(at: staging, backlog: 1).get()
        close(leftover)
        #expect(try entries() == ["api.sock.\(getpid()).tmp"])
        let fd = try ListeningUnixSocket.create(at: path, backlog: 4).get()
        close(fd)
        #expect(try entries() == ["api.sock"])
        unlink(path)

        FileManager.default.createFile(atPath: staging, contents: Data("keep".utf8))
        let result = ListeningUnixSocket.create(at: path, backlog: 4)
        guard case .failure(let failure) = result else { Issue.record("bound over a regular file: \(result)"); return }
        #expect(failure.operation == .bind && failure.errno == EADDRINUSE)
        #expect(FileManager.default.contents(atPath: staging) == Data("keep".utf8))
        #expect(try entries() == ["api.sock.\(getpid()).tmp"])
    }

    /// A path that fits sun_path but not with the staging suffix is bound directly.
    @Test func aPathTooLongForTheStagingNameIsBoundDirectly() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let name = String(repeating: "s", count: 105 - directory.utf8.count)
        let path = directory + "/" + name
        #expect(path.utf8.count == 106)
        let fd = try ListeningUnixSocket.create(at: path, backlog: 4).get()
        defer { close(fd) }
        #expect(!StaleSocket.isStale(path))
        #expect(try entries() == [name])
    }
}
