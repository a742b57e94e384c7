import Synchronization

/// QEMU's pvpanic device: one byte at I/O port 0x505, found by Linux through the DSDT
/// (_HID "QEMU0001") and driven by drivers/misc/pvpanic (CONFIG_PVPANIC_MMIO).
///
/// At probe the driver reads the byte to learn which events the host supports; on panic its
/// notifier writes PANICKED (bit 0), or CRASH_LOADED (bit 1) instead when a kdump kernel is
/// loaded and will take over, in which case the guest keeps running and nothing is reported.
/// Only the first panic counts, so a guest cannot flood the VMM with callbacks.
public final class PvPanic: BusDevice {
    public static let panicked: UInt8 = 1 << 0
    public static let crashLoaded: UInt8 = 1 << 1
    public static let supportedEvents: UInt8 = panicked | crashLoaded

    let fired = Atomic<Bool>(false)
    private let onPanic: @Sendable (UInt8) -> Void

    /// - Parameter onPanic: called once with the byte the guest wrote, on that vCPU's thread.
    public init(onPanic: @escaping @Sendable (UInt8) -> Void) {
        self.onPanic = onPanic
    }

    public var hasPanicked: Bool { fired.load(ordering: .relaxed) }

    public func read(offset: UInt64, data: UnsafeMutableRawBufferPointer) {
        for index in data.indices { data[index] = 0 }
        if offset == 0, !data.isEmpty { data[0] = Self.supportedEvents }
    }

    public func write(offset: UInt64, data: UnsafeRawBufferPointer) {
        guard offset == 0, !data.isEmpty, data[0] & Self.panicked != 0 else { return }
        guard fired.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        onPanic(data[0])
    }
}
