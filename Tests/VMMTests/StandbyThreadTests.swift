import KVM
import Synchronization
import Testing
@testable import VMM
#if canImport(Glibc)
import Glibc
#endif

/// Threads started before their work (the builder starts the VM's threads while it builds):
/// the start-up step runs first, its error reaches the builder, work runs once assigned and only
/// then, and a thread that never gets work ends when dismissed. Unfiltered here (seccomp off):
/// SeccompTests and the boots cover the filters.
@Suite struct StandbyThreadTests {
    final class Events: @unchecked Sendable {
        let log = Mutex<[String]>([])
        func record(_ event: String) { log.withLock { $0.append(event) } }
        var all: [String] { log.withLock { $0 } }
    }

    @Test func stepRunsFirstAndWorkOnlyOnceAssigned() throws {
        let events = Events()
        let standby = try StandbyThread.spawn(name: "test_standby", role: .vcpu, seccomp: false, stop: StopCoordinator()) {
            () throws(VMMError) in events.record("step")
        }
        #expect(try standby.waitUntilReady(milliseconds: 5000))
        // Ready, but no work yet: nothing else has run.
        usleep(20_000)
        #expect(events.all == ["step"])
        standby.assign { events.record("work") }
        standby.native.join()
        #expect(events.all == ["step", "work"])
    }

    @Test func aFailedStepReachesTheBuilderAndNoWorkRuns() throws {
        let events = Events()
        let failure = VMMError.kvm(.systemCall(operation: "KVM_CREATE_PIT2", errno: EEXIST))
        let standby = try StandbyThread.spawn(name: "test_standby", role: .devices, seccomp: false, stop: StopCoordinator()) {
            () throws(VMMError) in throw failure
        }
        let reported = #expect(throws: VMMError.self) { _ = try standby.waitUntilReady(milliseconds: 5000) }
        #expect(reported?.description == failure.description)
        standby.assign { events.record("work") }
        standby.native.join()
        #expect(events.all.isEmpty)
    }

    @Test func dismissedThreadEndsWithoutWork() throws {
        let events = Events()
        let threads = try VMThreads.spawn(vcpuCount: 3, driveCount: 2, seccomp: false, stop: StopCoordinator())
        #expect(threads.vcpus.count == 3 && threads.drives.count == 2)
        #expect(try threads.waitUntilReady(milliseconds: 5000))
        // Joins every thread: this returns only once all six have ended.
        threads.dismiss()
        (threads.vcpus + threads.drives + [threads.devices]).forEach { $0.assign { events.record("work") } }
        #expect(events.all.isEmpty)
    }

    @Test func workAssignedBeforeTheThreadIsReadyStillRunsAfterTheStep() throws {
        let events = Events()
        let release = Atomic<Bool>(false)
        let standby = try StandbyThread.spawn(name: "test_standby", role: .vcpu, seccomp: false, stop: StopCoordinator()) {
            () throws(VMMError) in
            while !release.load(ordering: .acquiring) { usleep(1000) }
            events.record("step")
        }
        standby.assign { events.record("work") }
        release.store(true, ordering: .releasing)
        standby.native.join()
        #expect(events.all == ["step", "work"])
    }
}
