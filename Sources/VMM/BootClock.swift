import CKiln
#if canImport(Glibc)
import Glibc
#endif

/// Firecracker-style boot timer report: the time from kiln's start to the guest's marker.
enum BootClock {
    static func reportFirstEntry() {
        let micros = (kiln_monotonic_ns() &- kiln_process_start_ns()) / 1000
        var line = "kiln: VMM set-up took \(micros) us (first KVM_RUN of vCPU 0)\n"
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
