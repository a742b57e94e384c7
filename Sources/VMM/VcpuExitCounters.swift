import Synchronization

/// vCPU exits by reason, for the metrics endpoint. One instance per vCPU, written only by its
/// thread with relaxed atomics (no allocation, no lock), read by the VMM thread.
final class VcpuExitCounters: Sendable {
    enum Reason: Int, CaseIterable, Sendable {
        case ioIn, ioOut, mmioRead, mmioWrite, interrupted, halt, shutdown, systemEvent, failure

        /// Firecracker's metric names where it has one.
        var metricName: String {
            switch self {
            case .ioIn: "exit_io_in"
            case .ioOut: "exit_io_out"
            case .mmioRead: "exit_mmio_read"
            case .mmioWrite: "exit_mmio_write"
            case .interrupted: "exit_interrupted"
            case .halt: "exit_halt"
            case .shutdown: "exit_shutdown"
            case .systemEvent: "exit_system_event"
            case .failure: "failures"
            }
        }
    }

    private let ioIn = Atomic<UInt64>(0), ioOut = Atomic<UInt64>(0)
    private let mmioRead = Atomic<UInt64>(0), mmioWrite = Atomic<UInt64>(0)
    private let interrupted = Atomic<UInt64>(0), halt = Atomic<UInt64>(0), shutdown = Atomic<UInt64>(0)
    private let systemEvent = Atomic<UInt64>(0), failure = Atomic<UInt64>(0)

    init() {}

    @inline(__always) func count(_ reason: Reason) {
        switch reason {
        case .ioIn: ioIn.wrappingAdd(1, ordering: .relaxed)
        case .ioOut: ioOut.wrappingAdd(1, ordering: .relaxed)
        case .mmioRead: mmioRead.wrappingAdd(1, ordering: .relaxed)
        case .mmioWrite: mmioWrite.wrappingAdd(1, ordering: .relaxed)
        case .interrupted: interrupted.wrappingAdd(1, ordering: .relaxed)
        case .halt: halt.wrappingAdd(1, ordering: .relaxed)
        case .shutdown: shutdown.wrappingAdd(1, ordering: .relaxed)
        case .systemEvent: systemEvent.wrappingAdd(1, ordering: .relaxed)
        case .failure: failure.wrappingAdd(1, ordering: .relaxed)
        }
    }

    /// Exits other than kicks: when this moves, the vCPU is running guest code.
    var activity: UInt64 {
        Reason.allCases.reduce(0) { $1 == .interrupted ? $0 : $0 &+ value($1) }
    }

    func value(_ reason: Reason) -> UInt64 {
        switch reason {
        case .ioIn: ioIn.load(ordering: .relaxed)
        case .ioOut: ioOut.load(ordering: .relaxed)
        case .mmioRead: mmioRead.load(ordering: .relaxed)
        case .mmioWrite: mmioWrite.load(ordering: .relaxed)
        case .interrupted: interrupted.load(ordering: .relaxed)
        case .halt: halt.load(ordering: .relaxed)
        case .shutdown: shutdown.load(ordering: .relaxed)
        case .systemEvent: systemEvent.load(ordering: .relaxed)
        case .failure: failure.load(ordering: .relaxed)
        }
    }
}
