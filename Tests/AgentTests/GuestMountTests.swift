import AgentProtocol
import Testing

/// `kiln.mount=TAG:PATH`: what kiln writes the agent reads back, and a hostile or broken word
/// is refused with the reason instead of mounting somewhere else.
@Suite struct GuestMountTests {
    @Test func roundTrip() {
        let mounts = [GuestMount(tag: "kiln-share0", path: "/mnt/host"), GuestMount(tag: "b.c_d", path: "/data/")]
        let cmdline = "console=ttyS0 " + mounts.map(\.commandLineWord).joined(separator: " ") + " quiet"
        let parsed = GuestMount.fromCommandLine(cmdline).map { try? $0.get() }
        #expect(parsed == mounts)
        #expect(GuestMount.fromCommandLine("console=ttyS0 kiln.overlay=tmpfs").isEmpty)
    }

    @Test(arguments: [
        "kiln.mount=nocolon", "kiln.mount=:/mnt", "kiln.mount=tag:relative", "kiln.mount=tag:/",
        "kiln.mount=tag:/mnt/../etc", "kiln.mount=tag:/..", "kiln.mount=tag:/mnt/./x", "kiln.mount=tag://x",
        "kiln.mount=t/ag:/mnt", "kiln.mount=\(String(repeating: "t", count: 37)):/mnt",
    ])
    func malformedWordsAreRefused(word: String) {
        let parsed = GuestMount.fromCommandLine("quiet \(word)")
        #expect(parsed.count == 1)
        guard case .failure(let error) = parsed.first else {
            Issue.record("\(word) was accepted")
            return
        }
        #expect(error.word == word)
        #expect(!error.reason.isEmpty)
    }

    @Test func pathProblems() {
        #expect(GuestMount.pathProblem("/mnt/host") == nil)
        #expect(GuestMount.pathProblem("/mnt/a b")?.contains("spaces") == true)
        #expect(GuestMount.pathProblem("/mnt/a\tb")?.contains("spaces") == true)
        #expect(GuestMount.pathProblem("mnt")?.contains("absolute") == true)
        #expect(GuestMount.pathProblem("/a/../b")?.contains("'..'") == true)
    }
}
