import AgentCore
import AgentProtocol
import Glibc
import Sandbox
import Testing

@Suite struct FileCopyTests {
    /// sha256 as the guest would compute it (the sha256sum tool), so the check does not trust
    /// the code under test.
    func sha256(_ path: String) throws -> String {
        let r = try runThroughAgent(ExecRequest(argv: ["sha256sum", path]))
        #expect(r.status == .exited(0))
        return String(String(decoding: r.out, as: UTF8.self).prefix(64))
    }

    @Test func copyInThenOutKeepsBytesAndMode() throws {
        let scratch = Scratch()
        let data = randomBytes(5 << 20 + 3)
        writeFile(scratch.file("src"), data, mode: 0o640)
        let harness = AgentHarness()
        try AgentClient(fd: harness.hostFD).copyIn(source: scratch.file("src"), destination: scratch.file("in"), mode: 0o750)
        #expect(harness.agentResult() == nil)
        var info = stat()
        #expect(stat(scratch.file("in"), &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o750)
        #expect(try sha256(scratch.file("in")) == sha256(scratch.file("src")))
        #expect(readFile(scratch.file("in")) == data)

        let back = AgentHarness()
        let copied = try AgentClient(fd: back.hostFD).copyOut(source: scratch.file("in"), destination: scratch.file("out"))
        #expect(back.agentResult() == nil)
        #expect(copied == UInt64(data.count))
        #expect(try sha256(scratch.file("out")) == sha256(scratch.file("src")))
        #expect(stat(scratch.file("out"), &info) == 0)
        #expect(info.st_mode & 0o777 == 0o750 & ~0o022)
    }

    @Test func emptyFileCopies() throws {
        let scratch = Scratch()
        writeFile(scratch.file("empty"), [])
        let harness = AgentHarness()
        try AgentClient(fd: harness.hostFD).copyIn(source: scratch.file("empty"), destination: scratch.file("copy"))
        #expect(readFile(scratch.file("copy")) == [])
    }

    @Test func copyOutOfMissingFileIsAnAgentError() throws {
        let scratch = Scratch()
        let harness = AgentHarness()
        #expect(throws: SandboxError.agent(code: UInt32(ENOENT), message: "open /nonexistent-kiln: No such file or directory (errno 2)")) {
            try AgentClient(fd: harness.hostFD).copyOut(source: "/nonexistent-kiln", destination: scratch.file("x"))
        }
    }

    @Test func copyInToMissingDirectoryIsAnAgentError() throws {
        let scratch = Scratch()
        writeFile(scratch.file("src"), [1, 2, 3])
        let harness = AgentHarness()
        #expect(throws: SandboxError.self) {
            try AgentClient(fd: harness.hostFD).copyIn(source: scratch.file("src"), destination: "/nonexistent-kiln/dir/file")
        }
        #expect(harness.agentResult() != nil)
    }

    @Test func copyInLongerThanAnnouncedIsRefusedAndLeavesNoFile() throws {
        let scratch = Scratch()
        let harness = AgentHarness()
        _ = try AgentClient(fd: harness.hostFD)
        var channel = FrameChannel(fd: harness.hostFD)
        try channel.send(.copyIn(path: scratch.file("dst"), mode: 0o644, size: 4))
        try channel.send(.fileData([1, 2, 3, 4, 5]))
        #expect(try channel.receive() == .error(code: 0, message: "invalid field: copy-in data exceeds the announced 4 bytes"))
        #expect(harness.agentResult() == .protocolError(.invalidField("copy-in data exceeds the announced 4 bytes")))
        #expect(readFile(scratch.file("dst")) == nil)
        #expect(readFile(scratch.file("dst") + ".kiln-partial") == nil)
    }

    @Test func copyInCutShortLeavesNoFile() throws {
        let scratch = Scratch()
        let harness = AgentHarness()
        _ = try AgentClient(fd: harness.hostFD)
        let channel = FrameChannel(fd: harness.hostFD)
        try channel.send(.copyIn(path: scratch.file("dst"), mode: 0o644, size: 100))
        try channel.send(.fileData([1, 2, 3]))
        shutdown(harness.hostFD, Int32(SHUT_WR))
        #expect(harness.agentResult() == .protocolError(.closedByPeer("during copy-in after 3 of 100 bytes")))
        #expect(readFile(scratch.file("dst")) == nil)
    }

    @Test func powerOffIsAcknowledgedThenDone() throws {
        let harness = AgentHarness()
        try AgentClient(fd: harness.hostFD).powerOff()
        #expect(harness.agentResult() == nil)
        #expect(harness.poweredOff)
    }
}
