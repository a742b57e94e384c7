import AgentProtocol
import ArgumentParser
import Glibc
import Images
import Sandbox
import SandboxHost

/// `--image` and its companions, shared by `kiln run` and `kiln create`.
struct ImageOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Run this image (pulled into the image store if it is not there): python:3.12-slim, host:port/name:tag, oci:DIR[:TAG], docker-archive:FILE...", valueName: "ref"))
    var image: String?

    @Option(help: ArgumentHelp("Replace the image's Entrypoint with this program (the command after -- becomes its arguments).", valueName: "cmd"))
    var entrypoint: String?

    @Option(name: .customLong("tls-verify"), help: "Verify the registry's TLS certificate when --image has to be pulled (false: plain HTTP or self-signed).")
    var tlsVerify: Bool = true

    init() {}

    init(image: String?, tlsVerify: Bool) {
        self.image = image
        self.tlsVerify = tlsVerify
    }

    /// The stored image, pulled first when the store does not have it; nil without --image.
    func storedImage() -> StoredImage? {
        guard let image else { return nil }
        do {
            let reference = try parseImageReference(image)
            let store = currentImageStore()
            if let stored = store.lookup(reference) { return stored }
            let onTerminal = isatty(2) == 1
            return try store.pull(reference, tlsVerify: tlsVerify) { line in if onTerminal { printError(line) } }
        } catch {
            fail("--image \(image): \(error)")
        }
    }
}

/// How an image's config shapes the command, as Docker does: Env under --env, WorkingDir unless
/// --workdir, User (a name resolved in the image's /etc/passwd and /etc/group) unless --user,
/// Entrypoint + Cmd or Entrypoint + the command given.
enum ImageJob {
    static func apply(_ image: StoredImage, entrypoint: String?, to sandbox: SandboxOptions) -> SandboxJob {
        let config = image.config
        guard let argv = config.resolveCommand(entrypointOverride: entrypoint.map { [$0] }, command: sandbox.command) else {
            fail("image \(image.names.first ?? image.id) has no Entrypoint or Cmd: give the command after --")
        }
        var options = sandbox
        options.command = argv
        // The image's Env comes first, so --env (applied by job()) wins.
        options.env = config.env + sandbox.env
        if options.workdir == nil, let dir = config.workingDir, !dir.isEmpty { options.workdir = dir }
        let userSpec = sandbox.user ?? config.user ?? ""
        options.user = nil
        var job = options.job()
        if !userSpec.isEmpty {
            let user = resolveUser(userSpec, image: image)
            job.request.uid = user.uid
            job.request.gid = user.gid
        }
        return job
    }

    /// The copy saved at conversion, else (an image an older kiln converted) read from the image.
    private static func accountFile(_ path: String, saved: String, image: StoredImage) throws(SandboxHostError) -> String? {
        if let text = ImageConversion.savedAccountFile(saved, rootfs: image.rootfsPath) { return text.isEmpty ? nil : text }
        return try ImageFileReader.read(image: image.rootfsPath, path: path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// `uid[:gid]` or names: the image's /etc/passwd and /etc/group are read only when a name
    /// needs them (debugfs, bounded; a symlinked passwd counts as absent).
    static func resolveUser(_ spec: String, image: StoredImage) -> ImageUser {
        let numeric = spec.split(separator: ":", omittingEmptySubsequences: false).allSatisfy { UInt32($0) != nil }
        do {
            var passwd: String?, group: String?
            if !numeric {
                passwd = try accountFile("/etc/passwd", saved: "etc-passwd", image: image)
                group = try accountFile("/etc/group", saved: "etc-group", image: image)
            }
            return try ImageUser.parse(spec, passwd: passwd, group: group)
        } catch let error as ImageError {
            fail("user \(spec): \(error)")
        } catch {
            fail("user \(spec): \(error)")
        }
    }
}

extension ImageOptions {
    /// The name `Rootfs/build-default-image.sh` gives the Debian image.
    static let defaultImageName = "kiln.local/default:latest"

    /// The image `kiln run`/`create` use without --image: none when a root filesystem is named
    /// (--rootfs, $KILN_SANDBOX_ROOTFS: the busybox test image), else the store's default image.
    static func defaultImage(rootfs: String?) -> StoredImage? {
        if rootfs != nil { return nil }
        if let env = getenv("KILN_SANDBOX_ROOTFS"), env.pointee != 0 { return nil }
        do {
            guard let stored = currentImageStore().lookup(try parseImageReference(defaultImageName)) else {
                fail("no --image or --rootfs, and the image store has no default image \(defaultImageName): "
                     + "build it with Rootfs/build-default-image.sh (Debian with python3), or give --image REF")
            }
            return stored
        } catch {
            fail("default image \(defaultImageName): \(error)")
        }
    }

    /// The image a sandbox was created from (`image=` in its config), looked up by name in the
    /// store; nil for a sandbox without one. An image removed since is a one-line error.
    static func imageOfSandbox(_ record: SandboxRecord) -> StoredImage? {
        guard let config = FileText.read(record.directory.file("config")),
              let line = config.split(separator: "\n").first(where: { $0.hasPrefix("image=") }) else { return nil }
        let name = String(line.dropFirst("image=".count))
        do {
            guard let stored = currentImageStore().lookup(try parseImageReference(name)) else {
                fail("sandbox \(record.name) runs image \(name), which is no longer in the image store")
            }
            return stored
        } catch {
            fail("sandbox \(record.name): image \(name): \(error)")
        }
    }
}
