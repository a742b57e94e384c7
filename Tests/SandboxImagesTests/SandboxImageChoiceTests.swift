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

    /// `--from DIR`: the snapshot's image by id, still where the snapshot's VM had it attached.
    @Test func theImageASnapshotWasTakenOf() throws {
        let image = storedImage(ImageConfig(cmd: ["sh"]), name: "oci:/images/app:v1", rootfs: "/store/images/ab/rootfs.ext4")
        let source = FakeImageSource(["oci:/images/app:v1": image])
        #expect(try SandboxImageChoice.imageOfSnapshot("/snap", imageID: image.id, imageName: "oci:/images/app:v1",
                                                       rootfs: image.rootfsPath, from: source)?.id == image.id)
        #expect(try SandboxImageChoice.imageOfSnapshot("/snap", imageID: nil, imageName: nil, rootfs: "/r.ext4", from: source) == nil)
        let moved = SandboxImageError.snapshotImageMoved(snapshot: "/snap", image: "oci:/images/app:v1",
                                                         now: image.rootfsPath, was: "/old/rootfs.ext4")
        #expect(throws: moved) {
            try SandboxImageChoice.imageOfSnapshot("/snap", imageID: image.id, imageName: "oci:/images/app:v1",
                                                   rootfs: "/old/rootfs.ext4", from: source)
        }
        #expect(moved.description == "--from /snap: image oci:/images/app:v1 is now at /store/images/ab/rootfs.ext4, not /old/rootfs.ext4")
        // Removed since (kiln rmi): named by the snapshot's name, else its id.
        #expect(throws: SandboxImageError.snapshotImageGone(snapshot: "/snap", image: "c0ffee")) {
            try SandboxImageChoice.imageOfSnapshot("/snap", imageID: "c0ffee", imageName: nil, rootfs: "/r.ext4", from: source)
        }
        #expect(SandboxImageError.snapshotImageGone(snapshot: "/snap", image: "x").description
                == "--from /snap: its image x is no longer in the image store")
    }
}
