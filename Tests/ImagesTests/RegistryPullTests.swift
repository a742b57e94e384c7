import ChildProcessSupport
import Foundation
import Images
import Testing

/// A pull by registry reference from Debian's docker-registry started on 127.0.0.1 (plain
/// HTTP, so `tlsVerify: false`), by tag and by digest.
@Suite struct RegistryPullTests {
    let scratch = TestDirectory()

    @Test func pullsByTagAndDigest() throws {
        let registry = try LocalRegistry(directory: scratch.path + "/registry")
        defer { registry.stop() }
        let layoutPath = scratch.path + "/layout"
        let digests = try TestLayout(path: layoutPath, layerFiles: [["a": "1"], ["b": "2"]], cmd: ["/b"]).write()
        let pushed = try ChildProcess.run("/usr/bin/skopeo", ["copy", "--dest-tls-verify=false", "oci:\(layoutPath):v1",
                                                              "docker://\(registry.address)/kiln/test:v1"], timeout: 60)
        #expect(pushed.status == 0, "\(pushed)")

        let converter = FakeConverter()
        let store = ImageStore(root: scratch.path + "/store", converter: converter.converter)
        let byTag = try ImageReference(parsing: "\(registry.address)/kiln/test:v1")
        let image = try store.pull(byTag, tlsVerify: false)
        #expect(image.id == digests.config)
        #expect(image.names == ["\(registry.address)/kiln/test:v1"])
        #expect(image.config.cmd == ["/b"])
        let manifest = try #require(image.manifestDigest)

        let byDigest = try ImageReference(parsing: "\(registry.address)/kiln/test@\(manifest)")
        let pinned = try store.pull(byDigest, tlsVerify: false)
        #expect(pinned.id == image.id)
        #expect(converter.calls.load(ordering: .sequentiallyConsistent) == 1)
        let listed = store.list()
        #expect(listed.count == 1)
        #expect(listed[0].storedNames.map(\.tag) == ["v1", nil])

        // TLS verification on against a plain-HTTP registry: skopeo's error, one line.
        do {
            _ = try store.pull(byTag, tlsVerify: true)
            Issue.record("a TLS pull from a plain-HTTP registry succeeded")
        } catch {
            #expect(error.description.hasPrefix("pull \(registry.address)/kiln/test:v1: "), "\(error)")
            #expect(!error.description.contains("\n"))
        }
        // An unknown tag.
        do {
            _ = try store.pull(try ImageReference(parsing: "\(registry.address)/kiln/test:nope"), tlsVerify: false)
            Issue.record("an unknown tag pulled")
        } catch {
            #expect(error.description.hasPrefix("pull \(registry.address)/kiln/test:nope: "), "\(error)")
        }
    }
}

/// `docker-registry serve` on a free 127.0.0.1 port with its storage in `directory`.
final class LocalRegistry {
    let process = Process()
    let address: String

    /// `htpasswd`: an htpasswd file the registry asks every client to match (basic auth).
    /// `tls`: a certificate and key it serves HTTPS with, else plain HTTP.
    init(directory: String, htpasswd: String? = nil, tls: (certificate: String, key: String)? = nil) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = try Self.freePort()
        address = "127.0.0.1:\(port)"
        var config = """
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: \(directory)/data
            http:
              addr: \(address)

            """
        if let tls {
            config += "  tls:\n    certificate: \(tls.certificate)\n    key: \(tls.key)\n"
        }
        if let htpasswd {
            config += "auth:\n  htpasswd:\n    realm: kiln-test\n    path: \(htpasswd)\n"
        }
        try config.write(toFile: directory + "/config.yml", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: try requiredTool("/usr/bin/docker-registry", package: "docker-registry"))
        process.arguments = ["serve", directory + "/config.yml"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while !Self.accepts(port) {
            guard Date() < deadline, process.isRunning else {
                stop()
                throw RegistryError(description: "docker-registry did not listen on \(address)")
            }
            usleep(50_000)
        }
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw RegistryError(description: "no free port") }
        return UInt16(bigEndian: address.sin_port)
    }

    static func accepts(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

struct RegistryError: Error, CustomStringConvertible {
    let description: String
}
