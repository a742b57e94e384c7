import ArgumentParser
import Glibc
import Images

/// The store every image command uses: `$KILN_IMAGE_STORE`, /var/lib/kiln/images as root, else
/// under `$XDG_DATA_HOME`.
func currentImageStore() -> ImageStore {
    let root = StoreLayout.defaultRoot(environment: { getenv($0).map { String(cString: $0) } }, isRoot: geteuid() == 0)
    return ImageStore(root: root, progressingConverter: ImageConversion.progressingConverter)
}

/// A reference from the command line, relative local paths taken from the current directory.
func parseImageReference(_ text: String) throws(ImageError) -> ImageReference {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let cwd = getcwd(&buffer, buffer.count).map { String(cString: $0) }
    return try ImageReference(parsing: text, currentDirectory: cwd)
}

/// Runs an image command body: an `ImageError` becomes one `kiln: error:` line (exit 125).
func runImageCommand(_ body: () throws(ImageError) -> Void) {
    do { try body() } catch { fail("\(error)") }
}

/// `kiln pull REF`
struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Fetch an image, verify it and convert it into the image store.",
        discussion: "REF: python:3.12-slim, ghcr.io/owner/name:tag, host:port/name@sha256:..., oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE. Blobs already in the store are not fetched again. Prints the image id.")

    @Argument(help: "The image reference.")
    var reference: String

    @Option(name: .customLong("tls-verify"), help: "Verify the registry's TLS certificate (false: plain HTTP or self-signed, for a local registry).")
    var tlsVerify: Bool = true

    func run() throws {
        runImageCommand { () throws(ImageError) in
            let ref = try parseImageReference(reference)
            let onTerminal = isatty(2) == 1
            let image = try currentImageStore().pull(ref, tlsVerify: tlsVerify) { line in
                if onTerminal { printError(line) }
            }
            print(image.id)
        }
    }
}

/// `kiln images`
struct ImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "List the images in the store (NAME TAG DIGEST ID SIZE AGE).",
        discussion: "DIGEST is the manifest's digest, as registries show it (NAME@DIGEST pulls exactly this image); ID is the config's digest, the store's name for the image.")

    @Flag(name: .customLong("no-trunc"), help: "Show the whole DIGEST and ID, not their first 12 hex digits.")
    var noTrunc = false

    func run() throws {
        let now = Int(time(nil))
        var rows = [["NAME", "TAG", "DIGEST", "ID", "SIZE", "AGE"]]
        for image in currentImageStore().list() {
            let digest = image.manifestDigest.map { noTrunc ? $0.description : "sha256:" + $0.hex.prefix(12) } ?? "<none>"
            let id = noTrunc ? image.id : String(image.id.prefix(12))
            for name in image.storedNames {
                rows.append([name.repository, name.tag ?? "<none>", digest, id,
                             humanSize(image.size), humanAge(now - image.created)])
            }
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(row.enumerated().map { $1 + String(repeating: " ", count: widths[$0] - $1.count) }
                .joined(separator: "  ").trimmingTrailingSpaces())
        }
    }
}

/// `kiln rmi REF`
struct Rmi: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rmi",
        abstract: "Remove an image's name; the image and its unshared blobs go with its last name.")

    @Argument(help: "The image reference, as pulled.")
    var reference: String

    func run() throws {
        runImageCommand { () throws(ImageError) in
            for line in try currentImageStore().remove(try parseImageReference(reference)) { print("removed \(line)") }
        }
    }
}

/// `kiln image prune`
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Manage the image store.", subcommands: [Prune.self, Tag.self])

    struct Tag: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tag",
            abstract: "Give an image in the store another name (e.g. kiln.local/default, the image `kiln run` uses without --image).")

        @Argument(help: "An image in the store, by any of its names.")
        var source: String

        @Argument(help: "The new name.")
        var target: String

        func run() throws {
            runImageCommand { () throws(ImageError) in
                let store = currentImageStore()
                let from = try parseImageReference(source)
                guard let image = store.lookup(from) else { throw .notInStore(reference: from.canonicalName) }
                let tagged = try store.tag(image, as: try parseImageReference(target))
                print(tagged.id)
            }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prune",
            abstract: "Remove unnamed images, unused blobs and what killed pulls left; waits for pulls in progress.")

        func run() throws {
            runImageCommand { () throws(ImageError) in
                for line in try currentImageStore().prune() { print("removed \(line)") }
            }
        }
    }
}

private func humanSize(_ bytes: Int64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
    return unit == 0 ? "\(bytes) B" : "\((value * 10).rounded() / 10) \(units[unit])"
}

private func humanAge(_ seconds: Int) -> String {
    switch max(seconds, 0) {
    case ..<60: return "\(max(seconds, 0)) seconds ago"
    case ..<3600: return "\(seconds / 60) minutes ago"
    case ..<86400: return "\(seconds / 3600) hours ago"
    default: return "\(seconds / 86400) days ago"
    }
}

private extension String {
    func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
