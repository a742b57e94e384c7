import ArgumentParser
import Glibc
import Images
import SandboxHost
import SandboxImages

/// `--image` and its companions, shared by `kiln run` and `kiln create`.
struct ImageOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Run this image (pulled into the image store if it is not there): python:3.12-slim, host:port/name:tag, oci:DIR[:TAG], docker-archive:FILE...", valueName: "ref"))
    var image: String?

    @Option(help: ArgumentHelp("Replace the image's Entrypoint with this program (the command after -- becomes its arguments).", valueName: "cmd"))
    var entrypoint: String?

    @Option(name: .customLong("tls-verify"), help: "Verify the registry's TLS certificate when --image has to be pulled (false: plain HTTP or self-signed).")
    var tlsVerify: Bool = RunDefaults.tlsVerify

    init() {}

    init(image: String?, tlsVerify: Bool) {
        self.image = image
        self.tlsVerify = tlsVerify
    }

    /// The stored image, pulled first when the store does not have it; nil without --image.
    func storedImage() -> StoredImage? {
        guard let image else { return nil }
        do {
            let onTerminal = isatty(2) == 1
            let progress: (String) -> Void = { line in if onTerminal { printError(line) } }
            return try SandboxImageChoice.image(parseImageReference(image), from: currentImageStore(), tlsVerify: tlsVerify,
                                                progress: progress)
        } catch {
            fail("--image \(image): \(error)")
        }
    }
}

extension ImageOptions {
    /// The image `kiln run`/`create` use without --image: none when a root filesystem is named
    /// (--rootfs, $KILN_SANDBOX_ROOTFS: the busybox test image), else the store's default image.
    static func defaultImage(rootfs: String?) -> StoredImage? {
        do {
            let environment = getenv("KILN_SANDBOX_ROOTFS").map { String(cString: $0) }
            return try SandboxImageChoice.defaultImage(rootfsOption: rootfs, rootfsEnvironment: environment, from: currentImageStore())
        } catch {
            fail("\(error)")
        }
    }

    /// The image a sandbox was created from (`image=` in its config), looked up by name in the
    /// store; nil for a sandbox without one. An image removed since is a one-line error.
    static func imageOfSandbox(_ record: SandboxRecord) -> StoredImage? {
        do {
            return try SandboxImageChoice.imageOfSandbox(record.name, config: FileText.read(record.directory.file("config")),
                                                         from: currentImageStore())
        } catch {
            fail("\(error)")
        }
    }
}
