import Devices
@testable import VMM
import Testing

@Suite struct SharedDirectoryConfigTests {
    func config(_ shares: [SharedDirectoryConfig]) -> VMConfig {
        var config = VMConfig(kernelPath: "/proc/self/exe", commandLine: "x")
        config.sharedDirectories = shares
        return config
    }

    func message(_ shares: [SharedDirectoryConfig]) -> String? {
        do { try config(shares).validate(maxVcpus: 8, hostMemoryMiB: 1024) } catch { return error.description }
        return nil
    }

    @Test func existingDirectoriesWithDistinctTagsPass() {
        #expect(message([SharedDirectoryConfig(tag: "a", hostPath: "/tmp"),
                         SharedDirectoryConfig(tag: String(repeating: "t", count: 36), hostPath: "/")]) == nil)
    }

    @Test func badTagsAreRefusedByName() {
        #expect(message([SharedDirectoryConfig(tag: "", hostPath: "/tmp")])?.contains("1 to 36 bytes") == true)
        let long = String(repeating: "t", count: 37)
        #expect(message([SharedDirectoryConfig(tag: long, hostPath: "/tmp")])?.contains(long) == true)
        #expect(message([SharedDirectoryConfig(tag: "a\0b", hostPath: "/tmp")])?.contains("without NUL") == true)
        #expect(message([SharedDirectoryConfig(tag: "x", hostPath: "/tmp"),
                         SharedDirectoryConfig(tag: "x", hostPath: "/")]) == "shared directory tag 'x' is used twice")
    }

    @Test func hostPathMustBeAnExistingDirectory() {
        let missing = message([SharedDirectoryConfig(tag: "a", hostPath: "/nonexistent/kiln-share")])
        #expect(missing?.contains("/nonexistent/kiln-share") == true && missing?.contains("No such file") == true)
        #expect(message([SharedDirectoryConfig(tag: "a", hostPath: "/proc/self/exe")])
            == "shared directory /proc/self/exe is not a directory")
        #expect(message([SharedDirectoryConfig(tag: "a", hostPath: "")])?.contains("host path") == true)
    }

    @Test func sharesCountAgainstTheVirtioIRQs() {
        let shares = (0...VirtioDevices.irqs.count).map { SharedDirectoryConfig(tag: "t\($0)", hostPath: "/tmp") }
        #expect(message(shares)?.contains("too many virtio devices") == true)
    }

    /// The file servers' descriptors fit RLIMIT_NOFILE: the jailer's 2048 for one share, split
    /// between several, never above the server's defaults, refused when nothing fits.
    @Test func limitsFitTheDescriptorLimit() throws {
        let one = try #require(SharedDirectoryConfig.limits(shares: 1, descriptorLimit: 2048))
        #expect(one.maxNodes + one.maxHandles <= 2048 - SharedDirectoryConfig.reservedDescriptors)
        #expect(one.maxHandles >= 128 && one.maxNodes >= 1024)
        let three = try #require(SharedDirectoryConfig.limits(shares: 3, descriptorLimit: 2048))
        #expect(3 * (three.maxNodes + three.maxHandles) <= 2048 - SharedDirectoryConfig.reservedDescriptors)
        let plenty = try #require(SharedDirectoryConfig.limits(shares: 1, descriptorLimit: 1 << 30))
        #expect(plenty == FileServerLimits())
        #expect(SharedDirectoryConfig.limits(shares: 10, descriptorLimit: 300) == nil)
    }
}
