import Synchronization
import Testing
@testable import VMM
#if canImport(Glibc)
import Glibc
#endif

@Suite struct PauseGateTests {
    /// Stand-in vCPU threads: loop until told to finish, parking whenever a pause is requested.
    final class Workers: @unchecked Sendable {
        let gate = PauseGate()
        let finish = Atomic<Bool>(false)
        let iterations = Atomic<Int>(0)
        var threads: [NativeThread] = []

        init(count: Int, parkable: Bool = true) throws {
            for index in 0..<count {
                threads.append(try NativeThread.spawn(name: "pause_test\(index)") { [self] in
                    while !finish.load(ordering: .relaxed) {
                        if parkable && gate.isPauseRequested {
                            gate.park(unlessStopping: { self.finish.load(ordering: .relaxed) })
                        }
                        iterations.wrappingAdd(1, ordering: .relaxed)
                        usleep(100)
                    }
                })
            }
        }

        func stop() {
            finish.store(true, ordering: .relaxed)
            gate.wakeAll()
            threads.forEach { $0.join() }
        }
    }

    @Test func pauseParksEveryWorkerAndResumeReleasesThem() throws {
        let workers = try Workers(count: 3)
        defer { workers.stop() }
        #expect(workers.gate.pause(vcpuCount: 3, milliseconds: 2000, kick: {}))
        let frozen = workers.iterations.load(ordering: .relaxed)
        usleep(50_000)
        #expect(workers.iterations.load(ordering: .relaxed) == frozen)
        workers.gate.resume()
        usleep(50_000)
        #expect(workers.iterations.load(ordering: .relaxed) > frozen)
    }

    @Test func pauseReportsWorkersThatNeverArrive() throws {
        let workers = try Workers(count: 2, parkable: false)
        defer { workers.stop() }
        #expect(!workers.gate.pause(vcpuCount: 2, milliseconds: 100, kick: {}))
        workers.gate.resume()
    }

    @Test func stoppingWakesParkedWorkers() throws {
        let workers = try Workers(count: 2)
        #expect(workers.gate.pause(vcpuCount: 2, milliseconds: 2000, kick: {}))
        workers.stop() // joins: would hang if parked workers were not woken
    }
}
