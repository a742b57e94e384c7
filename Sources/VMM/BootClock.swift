import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// Firecracker-style boot timer report: the time from kiln's start to the guest's marker.
enum BootClock {
    /// When the VM's build began (InstanceStart under the API; about process start otherwise).
    nonisolated(unsafe) private static var buildStartNanoseconds: UInt64 = 0

    /// The build's steps as they end (a name, monotonic ns), for the set-up line: in the nested
    /// test harness the same build took ~110 or ~300 ms depending on what ran before it, and
    /// only the steps' times say where. Written by the building thread alone; read by vCPU 0
    /// once the build handed the machine over (the hand-over orders the accesses).
    nonisolated(unsafe) private static var steps: [(name: StaticString, nanoseconds: UInt64)] = []

    /// Called on the VMM thread before any vCPU thread exists, so no other thread races it.
    static func markBuildStart() {
        steps.removeAll(keepingCapacity: true)
        steps.reserveCapacity(12)
        buildStartNanoseconds = kiln_monotonic_ns()
    }

    /// The build step `name` just ended.
    static func markStep(_ name: StaticString) { steps.append((name, kiln_monotonic_ns())) }

    static func reportFirstEntry() {
        let now = kiln_monotonic_ns()
        let micros = (now &- kiln_process_start_ns()) / 1000
        let sinceBuild = (now &- buildStartNanoseconds) / 1000
        var line = "kiln: VMM set-up took \(micros) us (first KVM_RUN of vCPU 0; \(sinceBuild) us after the build began)"
        if !steps.isEmpty {
            line += "; steps, us:"
            var previous = buildStartNanoseconds
            for step in steps {
                line += " \(step.name) \((step.nanoseconds &- previous) / 1000)"
                previous = step.nanoseconds
            }
            line += " run \((now &- previous) / 1000)"
        }
        line += "\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }

    static func reportBootComplete() {
        let now = kiln_monotonic_ns()
        let start = kiln_process_start_ns()
        let micros = (now &- start) / 1000
        let line = "kiln: Guest-boot-time = \(micros) us \(micros / 1000) ms (marker at monotonic \(now) ns)\n"
        var text = line
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
