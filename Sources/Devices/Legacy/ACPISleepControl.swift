import Synchronization

/// The hardware-reduced ACPI sleep control register (ACPI 6.5 section 4.8.3.7), one byte
/// of I/O space that the FADT names as both SLEEP_CONTROL_REG and SLEEP_STATUS_REG.
///
/// Linux powers off by writing SLP_TYP (bits 4:2, the value from the DSDT's `\_S5_`) with
/// SLP_EN (bit 5) set, after first writing WAK_STS (bit 7) to clear the status register; only
/// the S5 request does anything here. Reads return 0: the guest then spins waiting for
/// WAK_STS, which is fine, as the VMM is stopping it. Only the first request counts, so a
/// guest cannot flood the VMM with power-off callbacks.
public final class ACPISleepControl: BusDevice {
    public static let sleepEnable: UInt8 = 1 << 5
    public static let sleepTypeShift: UInt8 = 2
    public static let sleepTypeMask: UInt8 = 0b111
    /// Must equal the first element of the DSDT's `\_S5_` package (X86Boot's
    /// `ACPILayout.s5SleepType`; Devices does not import X86Boot).
    public static let softOffSleepType: UInt8 = 5

    let fired = Atomic<Bool>(false)
    private let onPowerOff: @Sendable () -> Void

    /// - Parameter onPowerOff: called once, on the vCPU thread that wrote the request.
    public init(onPowerOff: @escaping @Sendable () -> Void) {
        self.onPowerOff = onPowerOff
    }

    public var hasPoweredOff: Bool { fired.load(ordering: .relaxed) }

    /// Whether `value` written to the register requests S5.
    public static func requestsPowerOff(_ value: UInt8) -> Bool {
        value & sleepEnable != 0 && (value >> sleepTypeShift) & sleepTypeMask == softOffSleepType
    }

    public func read(offset: UInt64, data: UnsafeMutableRawBufferPointer) {
        for index in data.indices { data[index] = 0 }
    }

    public func write(offset: UInt64, data: UnsafeRawBufferPointer) {
        guard offset == 0, !data.isEmpty, Self.requestsPowerOff(data[0]) else { return }
        guard fired.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        onPowerOff()
    }
}
