import Glibc
@testable import OCIRuntime
import SandboxHost
import Testing

@Suite struct RuntimeStateTests {
    @Test func idsAreValidatedAsRuncDoes() {
        for good in ["a", "0", "abc-DEF_1.2", String(repeating: "f", count: 64)] { #expect(ContainerID.problem(good) == nil, "\(good)") }
        for bad in ["", "-a", ".a", "_a", "a/b", "..", "a b", "a\u{0}", "é", String(repeating: "a", count: 256), String(repeating: "a", count: 1025)] {
            #expect(ContainerID.problem(bad) != nil, "\(bad)")
        }
    }

    @Test func signalsByNameAndNumber() {
        #expect(SignalName.parse("TERM") == SIGTERM)
        #expect(SignalName.parse("SIGKILL") == SIGKILL)
        #expect(SignalName.parse("sigusr1") == SIGUSR1)
        #expect(SignalName.parse("9") == 9)
        #expect(SignalName.parse("RTMIN+2") == 36)
        #expect(SignalName.parse("SIGRTMAX") == 64)
        for bad in ["0", "65", "-1", "FOO", "SIG", "RTMIN+40", ""] { #expect(SignalName.parse(bad) == nil, "\(bad)") }
    }

    @Test func logRecordsAreLogrusLines() {
        #expect(RuntimeLog.line(level: "error", message: "no \"x\"\n", time: "T", format: .json)
                == #"{"level":"error","msg":"no \"x\"\n","time":"T"}"#)
        #expect(RuntimeLog.line(level: "error", message: "no \"x\"\n", time: "T", format: .text)
                == #"time="T" level=error msg="no \"x\"\n""#)
        #expect(RuntimeLog.rfc3339(seconds: 0) == "1970-01-01T00:00:00Z")
        #expect(RuntimeLog.rfc3339(seconds: 1_700_000_000, nanoseconds: 5_000_000) == "2023-11-14T22:13:20.005Z")
    }

    @Test func logFileIsAppended() {
        let scratch = Scratch()
        let log = RuntimeLog(path: scratch.path + "/log.json", format: .json)
        log.write(level: "error", "first")
        log.write(level: "warning", "second")
        let lines = (FileText.read(scratch.path + "/log.json") ?? "").split(separator: "\n")
        #expect(lines.count == 2 && lines[0].contains(#""msg":"first""#) && lines[1].contains(#""level":"warning""#))
    }

    @Test func statusFollowsWhatIsAlive() {
        #expect(ContainerStatus.derive(recorded: false, relayAlive: false, vmmAlive: false, started: false, paused: false) == .creating)
        #expect(ContainerStatus.derive(recorded: true, relayAlive: true, vmmAlive: true, started: false, paused: false) == .created)
        #expect(ContainerStatus.derive(recorded: true, relayAlive: true, vmmAlive: true, started: true, paused: false) == .running)
        #expect(ContainerStatus.derive(recorded: true, relayAlive: true, vmmAlive: true, started: true, paused: true) == .paused)
        #expect(ContainerStatus.derive(recorded: true, relayAlive: false, vmmAlive: true, started: true, paused: false) == .stopped)
        #expect(ContainerStatus.derive(recorded: true, relayAlive: true, vmmAlive: false, started: true, paused: false) == .stopped)
    }

    @Test func recordRoundTrips() {
        let record = ContainerRecord(id: "c1", bundle: "/b \"q\"", created: "2026-01-01T00:00:00Z",
                                     annotations: ["k": "v\nw"], relay: ProcessIdentity(pid: 10, startTime: 20),
                                     vmm: ProcessIdentity(pid: 11, startTime: 21), netns: "/run/netns/x")
        #expect(ContainerRecord.parse(record.json) == record)
        #expect(ContainerRecord.parse("{}") == nil)
        #expect(ContainerRecord.parse("garbage") == nil)
    }

    @Test func stateDirectoriesArePrivateAndUnique() throws {
        let scratch = Scratch()
        let store = ContainerStore(root: scratch.path + "/state/root/")
        #expect(store.root == scratch.path + "/state/root")
        let directory = try store.claim("c1")
        var info = stat()
        #expect(lstat(store.root, &info) == 0 && info.st_mode & 0o7777 == 0o700)
        #expect(lstat(directory.path, &info) == 0 && info.st_mode & 0o7777 == 0o700)
        #expect(throws: OCIRuntimeError.exists(id: "c1")) { try store.claim("c1") }
        #expect(throws: OCIRuntimeError.self) { try store.claim("../c2") }
        // Not recorded yet: creating, no pid.
        let container = try store.load("c1")
        #expect(container.status == .creating)
        #expect(store.ids() == ["c1"])
        #expect(throws: OCIRuntimeError.notFound(id: "c2")) { try store.load("c2") }
        // A recorded container whose processes are gone is stopped.
        let dead = ProcessIdentity(pid: 999_999, startTime: 1)
        let record = ContainerRecord(id: "c1", bundle: "/b", created: "T", annotations: ["a": "b"], relay: dead, vmm: dead, netns: nil)
        #expect(FileText.write(directory.file(ContainerStore.recordName), record.json) == nil)
        let stopped = try store.load("c1")
        #expect(stopped.status == .stopped)
        let state = stopped.stateJSON().serialized()
        #expect(state.contains(#""status":"stopped""#) && state.contains(#""pid":0"#) && state.contains(#""bundle":"/b""#)
                && state.contains(#""annotations":{"a":"b"}"#))
        try directory.remove()
        #expect(store.ids().isEmpty)
    }

    @Test func aRootOthersCanWriteIsRefused() throws {
        let scratch = Scratch()
        let root = scratch.directory("open")
        chmod(root, 0o777)
        #expect(throws: OCIRuntimeError.self) { try ContainerStore(root: root).claim("c1") }
    }
}
