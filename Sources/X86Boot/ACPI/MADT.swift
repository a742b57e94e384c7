/// The Multiple APIC Description Table (ACPI 6.5 section 5.2.12). Once ACPI is on, Linux
/// takes CPUs and IOAPICs from here and ignores the MP table; with no MADT it would boot one
/// CPU (arch/x86/kernel/acpi/boot.c, acpi_process_madt).
enum MADT {
    static let revision: UInt8 = 5
    static let fixedSize = SystemDescriptionTable.headerSize + 8  // + local APIC address, flags
    static let localAPICEntrySize = 8
    static let ioAPICEntrySize = 12
    static let overrideEntrySize = 10
    static let localAPICNMIEntrySize = 6

    static let localAPICType: UInt8 = 0
    static let ioAPICType: UInt8 = 1
    static let overrideType: UInt8 = 2
    static let localAPICNMIType: UInt8 = 4
    static let enabled: UInt32 = 1
    static let allProcessors: UInt8 = 0xff

    /// ISA IRQ 0 (the PIT) reaches the IOAPIC on pin 2, as on every PC. Linux parses it but,
    /// hardware-reduced, never sets up the PIT as a timer (acpi_generic_reduced_hw_init), so
    /// this is for fidelity only. Identity overrides for other ISA IRQs would not help either:
    /// with no 8259 Linux numbers IOAPIC pins dynamically (from 24 up), so devices get their
    /// interrupts through the DSDT instead.
    static let timerOverride = (irq: UInt8(0), gsi: UInt32(2))

    /// The IOAPIC id follows the vCPUs' APIC ids, as in the MP table, so none collide.
    static func ioAPICID(vcpuCount: Int) -> UInt8 { UInt8(vcpuCount) }

    static func size(vcpuCount: Int) -> Int {
        fixedSize + vcpuCount * localAPICEntrySize + ioAPICEntrySize
            + overrideEntrySize + localAPICNMIEntrySize
    }

    /// `vcpuCount` must already be validated (1...ACPITables.maxVcpus).
    static func bytes(vcpuCount: Int) -> [UInt8] {
        var table = SystemDescriptionTable.start(signature: "APIC", revision: revision, length: size(vcpuCount: vcpuCount))
        table.set(UInt32(Layout.localAPIC), at: SystemDescriptionTable.headerSize)
        // Flags stay 0 (no PCAT_COMPAT): the guest must not use the 8259s on this platform.
        var offset = fixedSize
        func entry(_ type: UInt8, _ length: Int, _ body: (inout StructureBuffer, Int) -> Void) {
            table.set(type, at: offset)
            table.set(UInt8(length), at: offset + 1)
            body(&table, offset)
            offset += length
        }
        for id in 0..<vcpuCount {
            // Processor UID and APIC id both equal the vCPU index; every vCPU is enabled.
            entry(localAPICType, localAPICEntrySize) { table, at in
                table.set(UInt8(id), at: at + 2)
                table.set(UInt8(id), at: at + 3)
                table.set(enabled, at: at + 4)
            }
        }
        entry(ioAPICType, ioAPICEntrySize) { table, at in
            table.set(ioAPICID(vcpuCount: vcpuCount), at: at + 2)
            table.set(UInt32(Layout.ioAPIC), at: at + 4)
            table.set(UInt32(0), at: at + 8)  // global system interrupt base
        }
        // Bus 0 (ISA); flags 0: polarity and trigger conform to the bus (edge, active high).
        entry(overrideType, overrideEntrySize) { table, at in
            table.set(timerOverride.irq, at: at + 3)
            table.set(timerOverride.gsi, at: at + 4)
        }
        // NMI reaches every processor on LINT1, as the MP table says too.
        entry(localAPICNMIType, localAPICNMIEntrySize) { table, at in
            table.set(allProcessors, at: at + 2)
            table.set(UInt8(1), at: at + 5)
        }
        return SystemDescriptionTable.finish(&table)
    }
}
