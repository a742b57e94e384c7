import Synchronization

/// Firecracker's boot-time marker: the guest's init writes 123 to offset 0 of this MMIO
/// window once it reaches userspace, and the VMM logs how long boot took.
///
/// Only the first such write counts, so a guest cannot flood the log. The value may be written
/// with any access width (`devmem ADDR 8 123` or `devmem ADDR 32 123`); every other write is
/// ignored and reads return zeros.
public final class BootTimer: BusDevice {
    public static let bootCompleteValue: UInt8 = 123

    let fired = Atomic<Bool>(false)
    private let onBootComplete: @Sendable () -> Void

    /// - Parameter onBootComplete: called once, on the vCPU thread that wrote the marker.
    public init(onBootComplete: @escaping @Sendable () -> Void) {
        self.onBootComplete = onBootComplete
    }

    public var hasFired: Bool { fired.load(ordering: .relaxed) }

    public func read(offset: UInt64, data: UnsafeMutableRawBufferPointer) {
        for index in data.indices { data[index] = 0 }
    }

    public func write(offset: UInt64, data: UnsafeRawBufferPointer) {
        guard offset == 0, !data.isEmpty, data[0] == Self.bootCompleteValue else { return }
        for index in 1..<data.count where data[index] != 0 { return }
        guard fired.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else {
            return
        }
        onBootComplete()
    }
}
