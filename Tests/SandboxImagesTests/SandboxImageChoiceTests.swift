import Images
import SandboxImages
import Testing

/// Which image `kiln run`/`create`/`exec` use: --image (pulled when missing), the default image
/// without it, none when a root filesystem file is named.
@Suite struct SandboxImageChoiceTests {
    static let defaultImage = storedImage(ImageConfig(cmd: ["python3"]), name: "kiln.local/default:latest", id: "de" + String(repeating: "0", count: 62))

    @Test func aStoredImageIsNotPulledAgain() throws {
        let image = storedImage(ImageConfig(cmd: ["sh"]), name: "docker.io/library/alpine:3")
        let source = FakeImageSource(["docker.io/library/alpine:3": image])
        var progress: [String] = []
        let chosen = try SandboxImageChoice.image(try ImageReference(parsing: "alpine:3"), from: source, tlsVerify: true) { progress.append($0) }
        #expect(chosen.id == image.id)
        #expect(source.pulls.isEmpty && progress.isEmpty)
    }

    @Test func aMissingImageIsPulledWithTheTLSSetting() throws {
        let source = FakeImageSource()
        source.pulled = storedImage(ImageConfig(cmd: ["sh"]), name: "127.0.0.1:5000/test:v1")
        var progress: [String] = []
        let reference = try ImageReference(parsing: "127.0.0.1:5000/test:v1")
        let chosen = try SandboxImageChoice.image(reference, from: source, tlsVerify: false) { progress.append($0) }
        #expect(chosen.id == source.pulled?.id)
        #expect(source.pulls.map(\.name) == ["127.0.0.1:5000/test:v1"] && source.pulls.map(\.tlsVerify) == [false])
        #expect(progress == ["pulling 127.0.0.1:5000/test:v1"])
        // Once stored, the next run finds it.
        _ = try SandboxImageChoice.image(reference, from: source, tlsVerify: false) { _ in }
        #expect(source.pulls.count == 1)

        let failing = FakeImageSource()
        #expect(throws: failing.pullError) {
            try SandboxImageChoice.image(try ImageReference(parsing: "nosuch:1"), from: failing, tlsVerify: true) { _ in }
        }
    }

    @Test func withoutImageTheDefaultImage() throws {
        let source = FakeImageSource(["kiln.local/default:latest": Self.defaultImage])
        let chosen = try SandboxImageChoice.defaultImage(rootfsOption: nil, rootfsEnvironment: nil, from: source)
        #expect(chosen?.id == Self.defaultImage.id)
        // An empty $KILN_SANDBOX_ROOTFS is no root filesystem file.
        #expect(try SandboxImageChoice.defaultImage(rootfsOption: nil, rootfsEnvironment: "", from: source)?.id == Self.defaultImage.id)
        #expect(source.pulls.isEmpty)
    }

    /// --rootfs or $KILN_SANDBOX_ROOTFS (the busybox test image) means no image: the store is
    /// not even asked.
    @Test func aRootfsFileMeansNoImage() throws {
        let source = FakeImageSource(["kiln.local/default:latest": Self.defaultImage])
        #expect(try SandboxImageChoice.defaultImage(rootfsOption: "rootfs.ext4", rootfsEnvironment: nil, from: source) == nil)
        #expect(try SandboxImageChoice.defaultImage(rootfsOption: nil, rootfsEnvironment: "/x/rootfs.ext4", from: source) == nil)
        #expect(source.lookups.isEmpty)
    }

    @Test func noDefaultImageIsOneLineSayingHowToBuildIt() {
        let source = FakeImageSource()
        let error = SandboxImageError.noDefaultImage(name: "kiln.local/default:latest")
        #expect(throws: error) { try SandboxImageChoice.defaultImage(rootfsOption: nil, rootfsEnvironment: nil, from: source) }
        #expect(error.description == "no --image or --rootfs, and the image store has no default image kiln.local/default:latest: "
                + "build it with Rootfs/build-default-image.sh (Debian with python3), or give --image REF")
        // The default image is built, never pulled.
        #expect(source.pulls.isEmpty)
    }

    @Test func theImageASandboxWasCreatedFrom() throws {
        let image = storedImage(ImageConfig(cmd: ["sh"]), name: "oci:/images/app:v1")
        let source = FakeImageSource(["oci:/images/app:v1": image])
        let config = "kernel=/k\nrootfs=/r\nimage=oci:/images/app:v1\nimage-id=\(image.id)\n"
        #expect(try SandboxImageChoice.imageOfSandbox("s1", config: config, from: source)?.id == image.id)
        #expect(try SandboxImageChoice.imageOfSandbox("s1", config: "kernel=/k\nrootfs=/r\n", from: source) == nil)
        #expect(try SandboxImageChoice.imageOfSandbox("s1", config: nil, from: source) == nil)
        let gone = SandboxImageError.imageGone(sandbox: "s1", image: "oci:/images/app:v1")
        #expect(throws: gone) { try SandboxImageChoice.imageOfSandbox("s1", config: config, from: FakeImageSource()) }
        #expect(gone.description == "sandbox s1 runs image oci:/images/app:v1, which is no longer in the image store")
    }
}
