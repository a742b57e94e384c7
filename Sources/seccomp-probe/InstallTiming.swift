import Seccomp
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `seccomp-probe ROLE time N`: install() in N fresh threads, one after another, as kiln's
/// threads do at start-up. The threads never end (the control role has no `exit`): each parks
/// on a lock main holds until the process exits.
enum InstallTiming {
    static let parking = Mutex<Void>(())
    static let done = Atomic<Int>(0)
    nonisolated(unsafe) static var samples: [UInt64] = []
    nonisolated(unsafe) static var failure: String?

    static func run(_ role: ThreadRole, threads count: Int) -> Never {
        parking.withLock { _ in
            for index in 0..<count {
                _ = spawn {
                    let start = now()
                    do throws(SeccompError) { try Seccomp.install(role) } catch { failure = "\(error)" }
                    samples.append(now() - start)
                    done.store(index + 1, ordering: .releasing)
                    parking.withLock { _ in }
                }
                while done.load(ordering: .acquiring) <= index { usleep(20) }
                if let failure { say(failure); exit(1) }
            }
            let sorted = samples.sorted()
            say("\(role) install() over \(count) threads: median \(micros(sorted[count / 2])) us, " +
                "p90 \(micros(sorted[count * 9 / 10])) us, min \(micros(sorted[0])) us, " +
                "max \(micros(sorted[count - 1])) us, first \(micros(samples[0])) us")
            exit(0) // still holding `parking`: releasing it would let the threads end, and `exit` is not in every role
        }
    }

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    static func micros(_ nanoseconds: UInt64) -> String {
        "\(nanoseconds / 1000).\(nanoseconds % 1000 / 100)"
    }
}
