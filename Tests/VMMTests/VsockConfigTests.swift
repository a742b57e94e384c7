@testable import VMM
import Testing

@Suite struct VsockConfigTests {
    func message(_ vsock: VsockConfig) -> String? {
        let config = VMConfig(kernelPath: "/proc/self/exe", vsock: vsock)
        do { try config.validate(maxVcpus: 8, hostMemoryMiB: 1024) } catch { return error.description }
        return nil
    }

    @Test func validVsockPasses() {
        #expect(message(VsockConfig(guestCID: 3, udsPath: "/tmp/kiln-vsock-config-test-unused.sock")) == nil)
        #expect(message(VsockConfig(guestCID: 0xFFFF_FFFE, udsPath: "relative.sock")) == nil)
    }

    @Test(arguments: [0, 1, 2, 0xFFFF_FFFF, 1 << 40] as [UInt64])
    func reservedOrOversizedCIDsAreRefused(cid: UInt64) {
        #expect(message(VsockConfig(guestCID: cid, udsPath: "/tmp/x.sock"))?.contains("guest CID \(cid)") == true)
    }

    @Test func badPathsAreRefused() {
        #expect(message(VsockConfig(guestCID: 3, udsPath: ""))?.contains("non-empty") == true)
        #expect(message(VsockConfig(guestCID: 3, udsPath: "/tmp/a\0b"))?.contains("NUL") == true)
        #expect(message(VsockConfig(guestCID: 3, udsPath: "/tmp/" + String(repeating: "x", count: 100)))?
            .contains("longer than 96 bytes") == true)
        // An existing file other than a stale socket is named rather than replaced.
        #expect(message(VsockConfig(guestCID: 3, udsPath: "/proc/self/exe"))?.contains("already exists") == true)
    }
}
