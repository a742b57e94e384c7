import GuestMemory

/// Intel MultiProcessor Specification 1.4 tables, which is how a Linux guest without ACPI
/// finds its CPUs and IOAPIC. Written at `Layout.ebdaStart` (Linux scans the last KiB of base
/// memory, 0x9fc00, for "_MP_"): the floating pointer, then the configuration table.
public enum MPTable {
    static let floatingPointerSize = 16
    static let headerSize = 44
    static let processorEntrySize = 20
    static let shortEntrySize = 8  // bus, IOAPIC, I/O and local interrupt entries
    /// Every IOAPIC pin gets an entry: 0-15 are the ISA IRQs, 16-23 serve virtio devices.
    static let ioInterruptCount = 24
    static let localInterruptCount = 2
    static let specRevision: UInt8 = 4  // 1.4
    static let localAPICVersion: UInt8 = 0x14
    static let ioAPICVersion: UInt8 = 0x11
    static let busID: UInt8 = 0
    /// Family 6 with FPU and APIC feature flags: enough for Linux, which reads CPUID itself.
    static let cpuSignature: UInt32 = 0x600
    static let cpuFeatures: UInt32 = (1 << 0) | (1 << 9)

    static let fixedSize = floatingPointerSize + headerSize + shortEntrySize /* bus */
        + shortEntrySize /* IOAPIC */ + (ioInterruptCount + localInterruptCount) * shortEntrySize
    static let space = Int(Layout.lowRAMEnd.rawValue - Layout.ebdaStart.rawValue)

    /// As many vCPUs as have a processor entry in the 1 KiB between the EBDA start and the
    /// VGA hole: (1024 - 284) / 20 = 37.
    public static let maxVcpus = (space - fixedSize) / processorEntrySize

    /// Bytes the floating pointer plus table take for `vcpuCount` processors.
    public static func size(vcpuCount: Int) -> Int { fixedSize + vcpuCount * processorEntrySize }

    /// The floating pointer and configuration table for `vcpuCount` vCPUs with APIC ids
    /// 0..<vcpuCount, ready to be written at `Layout.ebdaStart`.
    public static func bytes(vcpuCount: Int) throws(BootError) -> [UInt8] {
        guard vcpuCount >= 1, vcpuCount <= maxVcpus else { throw .invalidVcpuCount(vcpuCount, maximum: maxVcpus) }
        var table = StructureBuffer(count: size(vcpuCount: vcpuCount))
        let tableStart = floatingPointerSize
        let base = Layout.ebdaStart.rawValue

        // Floating pointer: signature, table address, length in 16-byte units, revision.
        table.set(bytes: Array("_MP_".utf8), at: 0)
        table.set(UInt32(base) + UInt32(tableStart), at: 4)
        table.set(UInt8(1), at: 8)
        table.set(specRevision, at: 9)
        // Feature byte 1 = 0: a configuration table is present (no default configuration).
        table.set(table.checksum(of: 0..<floatingPointerSize), at: 10)

        var offset = tableStart + headerSize
        var entryCount: UInt16 = 0
        func short(_ fields: [UInt8]) {
            table.set(bytes: fields, at: offset)
            offset += shortEntrySize
            entryCount += 1
        }
        for id in 0..<vcpuCount {
            // Processor: type 0; enabled, the first one the bootstrap processor.
            table.set(UInt8(0), at: offset)
            table.set(UInt8(id), at: offset + 1)
            table.set(localAPICVersion, at: offset + 2)
            table.set(UInt8(id == 0 ? 0b11 : 0b01), at: offset + 3)
            table.set(cpuSignature, at: offset + 4)
            table.set(cpuFeatures, at: offset + 8)
            offset += processorEntrySize
            entryCount += 1
        }
        short([1, busID] + Array("ISA   ".utf8))  // bus: type 1, id, 6-char type string
        // IOAPIC: type 2; its id follows the processors' APIC ids so none collide.
        let ioAPICID = UInt8(vcpuCount)
        let address = UInt32(Layout.ioAPIC)
        short([2, ioAPICID, ioAPICVersion, 1 /* enabled */] + littleEndianBytes(address))
        for irq in 0..<UInt8(ioInterruptCount) {
            // I/O interrupt: type 3, INT, flags 0 (conforms to bus), bus IRQ n -> IOAPIC pin n.
            short([3, 0, 0, 0, busID, irq, ioAPICID, irq])
        }
        // Local interrupts: ExtINT (the 8259) on LINT0 of the BSP, NMI on LINT1 of every CPU.
        short([4, 3, 0, 0, busID, 0, 0, 0])
        short([4, 1, 0, 0, busID, 0, 0xff, 1])

        let tableLength = offset - tableStart
        table.set(bytes: Array("PCMP".utf8), at: tableStart)
        table.set(UInt16(tableLength), at: tableStart + 4)
        table.set(specRevision, at: tableStart + 6)
        table.set(bytes: Array("KILN    ".utf8), at: tableStart + 8)       // OEM id
        table.set(bytes: Array("KILNVM      ".utf8), at: tableStart + 16)  // product id
        table.set(entryCount, at: tableStart + 34)
        table.set(UInt32(Layout.localAPIC), at: tableStart + 36)
        table.set(table.checksum(of: tableStart..<offset), at: tableStart + 7)
        return table.bytes
    }

    public static func write(vcpuCount: Int, to memory: GuestMemory) throws(BootError) {
        let bytes = try bytes(vcpuCount: vcpuCount)
        try inGuest { () throws(GuestMemoryError) in try memory.write(bytes, to: Layout.ebdaStart) }
    }

    private static func littleEndianBytes(_ value: UInt32) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}
