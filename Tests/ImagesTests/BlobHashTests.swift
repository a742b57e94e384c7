import ChildProcessSupport
import Foundation
@testable import Images
import Testing

/// The streaming hash against coreutils, and its speed on a layer-sized blob.
@Suite struct BlobHashTests {
    @Test func matchesCoreutilsAndIsFast() throws {
        let scratch = TestDirectory()
        let path = scratch.path + "/blob"
        var bytes = [UInt8](repeating: 0, count: 64 << 20)
        for index in stride(from: 0, to: bytes.count, by: 4096) { bytes[index] = UInt8(truncatingIfNeeded: index / 4096) }
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let start = ContinuousClock.now
        let (digest, size) = try SHA256.digest(ofFile: path)
        let elapsed = ContinuousClock.now - start
        let coreutils = try ChildProcess.run("/usr/bin/sha256sum", [path])
        #expect(digest.hex == String(coreutils.stdout.prefix(64)))
        #expect(size == Int64(bytes.count))
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("sha256 of 64 MiB: \(Int(64 / seconds)) MiB/s")
        #expect(SHA256.digest(of: Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(throws: ImageError.system(operation: "open", path: scratch.path + "/none", errno: ENOENT)) {
            try SHA256.digest(ofFile: scratch.path + "/none")
        }
    }
}
