import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// Firecracker-style boot timer report: the time from kiln's start to the guest's marker.
enum BootClock {
    /// When the VM's build began (InstanceStart under the API; about process start otherwise).
    nonisolated(unsafe) private static var buildStartNanoseconds: UInt64 = 0

    /// Called on the VMM thread before any vCPU thread exists, so no other thread races it.
    static func markBuildStart() { buildStartNanoseconds = kiln_monotonic_ns() }

    static func reportFirstEntry() {
        let now = kiln_monotonic_ns()
        let micros = (now &- kiln_process_start_ns()) / 1000
        let sinceBuild = (now &- buildStartNanoseconds) / 1000
        var line = "kiln: VMM set-up took \(micros) us (first KVM_RUN of vCPU 0; \(sinceBuild) us after the build began)\n"
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
