import Foundation
import Glibc
import Synchronization

/// A minimal plain-HTTP registry on 127.0.0.1 serving one OCI layout (written by TestLayout) as
/// `kiln/test`, one request per connection. While `dropping` is set, every answer for the blob
/// `dropDigest` announces its full length, sends half of it and closes the connection: a
/// registry (or the network) failing mid-blob, every time.
final class DroppingRegistry: Sendable {
    let layout: String
    let dropDigest: String
    let port: UInt16
    let dropping = Atomic<Bool>(true)
    let drops = Atomic<Int>(0)
    private let listener: Int32

    var address: String { "127.0.0.1:\(port)" }

    init(layout: String, dropDigest: String) throws {
        self.layout = layout
        self.dropDigest = dropDigest
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard fd >= 0, bound, listen(fd, 64) == 0 else {
            close(fd)
            throw RegistryError(description: "stub registry: bind/listen failed (errno \(errno))")
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    /// Ends the accept loop (shutdown wakes the blocked accept).
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    deinit { close(listener) }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            answer(client)
            close(client)
        }
    }

    private func answer(_ client: Int32) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while head.count < 16384 && !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
            guard recv(client, &byte, 1, 0) == 1 else { return }  // a TLS probe or a client gone
            head.append(byte)
        }
        let requestLine = String(decoding: head, as: UTF8.self).split(separator: "\r\n").first ?? ""
        let words = requestLine.split(separator: " ")
        guard words.count == 3 else { return reply(client, status: "400 Bad Request", body: [], headOnly: false) }
        let method = String(words[0]), path = String(words[1]), headOnly = method == "HEAD"
        if path == "/v2/" || path == "/v2" { return reply(client, status: "200 OK", body: Array("{}".utf8), headOnly: headOnly) }
        let prefix = "/v2/kiln/test/"
        guard path.hasPrefix(prefix) else { return reply(client, status: "404 Not Found", body: [], headOnly: headOnly) }
        let rest = path.dropFirst(prefix.count).split(separator: "/", maxSplits: 1).map(String.init)
        guard rest.count == 2 else { return reply(client, status: "404 Not Found", body: [], headOnly: headOnly) }
        switch rest[0] {
        case "manifests":
            guard let manifest = manifestDigest(for: rest[1]), let bytes = blob(manifest) else {
                return reply(client, status: "404 Not Found", body: [], headOnly: headOnly)
            }
            reply(client, status: "200 OK", body: bytes, headOnly: headOnly,
                  headers: ["Content-Type: application/vnd.oci.image.manifest.v1+json", "Docker-Content-Digest: sha256:\(manifest)"])
        case "blobs":
            let digest = rest[1].hasPrefix("sha256:") ? String(rest[1].dropFirst(7)) : rest[1]
            guard let bytes = blob(digest) else { return reply(client, status: "404 Not Found", body: [], headOnly: headOnly) }
            let cut = !headOnly && digest == dropDigest && dropping.load(ordering: .sequentiallyConsistent)
            if cut { drops.add(1, ordering: .sequentiallyConsistent) }
            reply(client, status: "200 OK", body: bytes, headOnly: headOnly,
                  headers: ["Content-Type: application/octet-stream", "Docker-Content-Digest: sha256:\(digest)"],
                  sendOnly: cut ? bytes.count / 2 : nil)
        default:
            reply(client, status: "404 Not Found", body: [], headOnly: headOnly)
        }
    }

    /// The layout's manifest for a tag (its index) or a digest.
    private func manifestDigest(for reference: String) -> String? {
        if reference.hasPrefix("sha256:") { return String(reference.dropFirst(7)) }
        guard let data = FileManager.default.contents(atPath: layout + "/index.json"),
              let index = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let manifests = index["manifests"] as? [[String: Any]] else { return nil }
        for entry in manifests {
            let annotations = entry["annotations"] as? [String: String]
            if annotations?["org.opencontainers.image.ref.name"] == reference, let digest = entry["digest"] as? String {
                return String(digest.dropFirst(7))
            }
        }
        return nil
    }

    private func blob(_ hex: String) -> [UInt8]? {
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else { return nil }
        return FileManager.default.contents(atPath: "\(layout)/blobs/sha256/\(hex)").map { [UInt8]($0) }
    }

    private func reply(_ client: Int32, status: String, body: [UInt8], headOnly: Bool, headers: [String] = [],
                       sendOnly: Int? = nil) {
        let head = (["HTTP/1.1 \(status)", "Content-Length: \(body.count)", "Connection: close"] + headers)
            .joined(separator: "\r\n") + "\r\n\r\n"
        var bytes = Array(head.utf8)
        if !headOnly { bytes += body.prefix(sendOnly ?? body.count) }
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return }
            sent += count
        }
    }
}
