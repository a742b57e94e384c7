import Glibc
import SandboxHost
import Testing

/// `-v HOST:GUEST`: checked before any VM exists, each problem one line naming the argument.
@Suite struct HostShareTests {
    func problem(_ text: String) -> String? {
        do { _ = try HostShare.parse(text, index: 0) } catch { return error.description }
        return nil
    }

    @Test func validShareGetsKilnsOwnTag() throws {
        let directory = TestDirectory()
        let share = try HostShare.parse("\(directory.path):/mnt/host", index: 2)
        #expect(share == HostShare(hostPath: directory.path, guestPath: "/mnt/host", tag: "kiln-share2"))
        #expect(share.guestMount.commandLineWord == "kiln.mount=kiln-share2:/mnt/host")
    }

    @Test func problemsAreNamed() {
        #expect(problem("/tmp") == "-v /tmp: expected HOST:GUEST")
        #expect(problem(":/mnt") == "-v :/mnt: no host directory before ':'")
        #expect(problem("/tmp:relative")?.contains("absolute") == true)
        #expect(problem("/tmp:/mnt/../etc")?.contains("'..'") == true)
        #expect(problem("/tmp:/")?.contains("/ itself") == true)
        #expect(problem("/nonexistent-kiln:/mnt")?.contains("No such file") == true)
        #expect(problem("/proc/self/exe:/mnt") == "-v /proc/self/exe:/mnt: /proc/self/exe is not a directory")
        for text in ["/tmp", ":/mnt", "/tmp:/", "/nonexistent-kiln:/mnt"] { #expect(problem(text)?.contains("\n") == false) }
    }

    @Test func oneGuestPathOnce() throws {
        let shares = [try HostShare.parse("/tmp:/mnt", index: 0), try HostShare.parse("/:/mnt", index: 1)]
        #expect(throws: HostShareError.self) { try HostShare.checkDistinct(shares) }
    }
}
