import ChildProcessSupport
import Foundation
import Images
import Testing

/// A real `kiln pull` killed with SIGKILL while skopeo copies: the store stays usable, `kiln gc`
/// (again while the orphaned skopeo holds pulls.lock) removes what was left, and the next pull
/// works.
@Suite struct KilledPullTests {
    @Test func killedMidwayLeavesNothingUsed() throws {
        let scratch = TestDirectory()
        let root = scratch.path + "/store"
        let big = String(repeating: "0123456789abcdef", count: 4 << 20)
        let digests = try TestLayout(path: scratch.path + "/layout", layerFiles: [["big": big], ["small": "x"]]).write()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try KilnBinary.require())
        process.arguments = ["pull", "oci:\(scratch.path)/layout:v1"]
        process.environment = ProcessInfo.processInfo.environment.merging(["KILN_IMAGE_STORE": root]) { $1 }
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Kill as soon as the pull's temporary directory exists: skopeo is starting or copying.
        let deadline = Date().addingTimeInterval(20)
        while ((try? FileManager.default.contentsOfDirectory(atPath: root + "/tmp")) ?? []).isEmpty && Date() < deadline {
            usleep(1000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)

        let store = ImageStore(root: root, converter: FakeConverter().converter)
        let reference = try ImageReference(parsing: "oci:\(scratch.path)/layout:v1")
        #expect(store.lookup(reference) == nil)
        #expect(store.list().isEmpty)
        try PullFaultTests.collectGarbage(store: root)
        let left = StoreContents(root)
        #expect(left.images.isEmpty && left.refs.isEmpty && left.tmp.isEmpty && left.blobs.isEmpty, "\(left)")

        let image = try store.pull(reference)
        #expect(image.id == digests.config)
    }
}
