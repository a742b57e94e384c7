/// Copies an image into an OCI layout: the layout (index.json, tagged `tag`) in `layout`, its
/// blobs in `sharedBlobs/sha256/<hex>`. skopeo in kiln; tests substitute a fetcher that writes
/// crafted layouts. `heldLock` is the store's pulls.lock: a helper process must keep a copy of
/// it open until it exits, so that a helper orphaned by a killed pull still holds prune off.
public protocol ImageFetcher: Sendable {
    func fetch(_ reference: ImageReference, tlsVerify: Bool, layout: String, tag: String, sharedBlobs: String,
               heldLock: Int32, progress: (String) -> Void) throws(ImageError)
}

/// `skopeo copy`: the reference implementation of the registry protocol, auth files
/// (`$XDG_RUNTIME_DIR/containers/auth.json`, `~/.docker/config.json`) and transports.
public struct SkopeoFetcher: ImageFetcher {
    public let executable: String

    public init(executable: String = "skopeo") { self.executable = executable }

    func arguments(_ reference: ImageReference, tlsVerify: Bool, layout: String, tag: String, sharedBlobs: String) -> [String] {
        // Uncompressed layers stay uncompressed: otherwise skopeo gzips them on every pull (under
        // a new digest), so they are neither shared nor skipped when already in the store.
        var arguments = ["copy", "--override-os", "linux", "--override-arch", "amd64", "--dest-oci-accept-uncompressed-layers"]
        if !tlsVerify && reference.isRegistry { arguments.append("--src-tls-verify=false") }
        arguments += ["--dest-shared-blob-dir", sharedBlobs, reference.skopeoSource, "oci:\(layout):\(tag)"]
        return arguments
    }

    public func fetch(_ reference: ImageReference, tlsVerify: Bool, layout: String, tag: String, sharedBlobs: String,
                      heldLock: Int32, progress: (String) -> Void) throws(ImageError) {
        let arguments = arguments(reference, tlsVerify: tlsVerify, layout: layout, tag: tag, sharedBlobs: sharedBlobs)
        let outcome = try ToolProcess.run(executable, arguments, errorFile: layout + ".stderr", inherited: heldLock,
                                          lines: progress)
        guard outcome.status != 0 else { return }
        throw .fetchFailed(reference: reference.canonicalName, problem: Self.condense(outcome.stderr, status: outcome.status))
    }

    /// skopeo's error as one line: the `msg="..."` of its logrus line when there is one, else
    /// its last non-empty line; at most 400 characters.
    static func condense(_ stderr: String, status: Int32) -> String {
        let lines = stderr.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.allSatisfy(\.isWhitespace) }
        guard let line = lines.last(where: { $0.contains("level=fatal") || $0.contains("level=error") }) ?? lines.last else {
            return "skopeo exited with status \(status)"
        }
        var text = line
        if let start = line.firstRange(of: "msg=\"") {
            var message = ""
            var escaped = false
            for character in line[start.upperBound...] {
                if escaped { message.append(character); escaped = false; continue }
                if character == "\\" { escaped = true; continue }
                if character == "\"" { break }
                message.append(character)
            }
            text = message
        }
        if text.hasPrefix("Error: ") { text = String(text.dropFirst(7)) }
        let flat = text.map { $0.isNewline || $0 == "\t" ? " " : $0 }
        let result = String(flat)
        return result.count > 400 ? String(result.prefix(400)) + "..." : result
    }
}
