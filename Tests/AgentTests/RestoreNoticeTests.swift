import AgentCore
import AgentProtocol
import Glibc
import Sandbox
import Synchronization
import Testing

/// The restore notice (docs/agent-protocol.md, restored): the agent sets the clock to the
/// host's time and counts a generation; a failed clock_settime comes back as an error.
@Suite struct RestoreNoticeTests {
    final class ClockRecorder: Sendable {
        let set = Mutex<[timespec]>([])
    }

    @Test func setsTheClockToTheHostsTimeAndCountsAGeneration() throws {
        let recorder = ClockRecorder()
        let notice = RestoreNotice(setClock: { time in
            recorder.set.withLock { $0.append(time) }
            return 0
        })
        var before = timespec()
        clock_gettime(CLOCK_REALTIME, &before)
        for round in 1...2 {
            let harness = AgentHarness(restore: notice)
            try AgentClient(fd: harness.hostFD).announceRestore()
            #expect(harness.agentResult() == nil)
            #expect(notice.generation == UInt64(round))
        }
        var after = timespec()
        clock_gettime(CLOCK_REALTIME, &after)
        let times = recorder.set.withLock { $0 }
        #expect(times.count == 2)
        for time in times {
            #expect(time.tv_sec >= before.tv_sec && time.tv_sec <= after.tv_sec)
            #expect((0..<1_000_000_000).contains(time.tv_nsec))
        }
    }

    @Test func aClockThatCannotBeSetIsAnErrorAndNoNewGeneration() {
        let notice = RestoreNotice(setClock: { _ in EPERM })
        let harness = AgentHarness(restore: notice)
        #expect(throws: SandboxError.agent(code: UInt32(EPERM), message: "clock_settime: \(String(cString: strerror(EPERM))) (errno \(EPERM))")) {
            try AgentClient(fd: harness.hostFD).announceRestore()
        }
        #expect(harness.agentResult() == .system(operation: "clock_settime", errno: EPERM))
        #expect(notice.generation == 0)
    }
}
