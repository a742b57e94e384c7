import GuestMemory
import Testing
@testable import X86Boot

/// Reads the tables back out of guest memory the way Linux finds them: scan the BIOS area
/// for the RSDP, follow the XSDT, and pick tables by signature.
struct WrittenTables {
    let memory: GuestMemory
    let rsdpAddress: UInt64
    let rsdp: [UInt8]
    let xsdt: [UInt8]
    let tables: [String: (address: UInt64, bytes: [UInt8])]

    init(vcpus: Int, mebibytes: UInt64 = 128) throws {
        memory = try makeMemory(mebibytes: mebibytes)
        try ACPITables.write(vcpuCount: vcpus, to: memory)
        var found: UInt64?
        for address in stride(from: UInt64(0xe_0000), to: 0x10_0000, by: 16) {
            let candidate = try memory.readBytes(at: GuestAddress(address), count: 36)
            if Array(candidate[0..<8]) == Array("RSD PTR ".utf8), sum(candidate[0..<20]) == 0 {
                found = address
                break
            }
        }
        rsdpAddress = try #require(found)
        rsdp = try memory.readBytes(at: GuestAddress(rsdpAddress), count: 36)
        xsdt = try Self.table(in: memory, at: rsdp.get(UInt64.self, at: 24))
        var tables: [String: (UInt64, [UInt8])] = [:]
        for index in 0..<(xsdt.count - 36) / 8 {
            let address = xsdt.get(UInt64.self, at: 36 + 8 * index)
            let table = try Self.table(in: memory, at: address)
            tables[String(decoding: table[0..<4], as: UTF8.self)] = (address, table)
        }
        if let fadt = tables["FACP"] {
            let address = fadt.1.get(UInt64.self, at: 140)
            tables["DSDT"] = (address, try Self.table(in: memory, at: address))
        }
        self.tables = tables
    }

    static func table(in memory: GuestMemory, at address: UInt64) throws -> [UInt8] {
        let header = try memory.readBytes(at: GuestAddress(address), count: 36)
        return try memory.readBytes(at: GuestAddress(address), count: Int(header.get(UInt32.self, at: 4)))
    }

    subscript(signature: String) -> [UInt8] { tables[signature]?.bytes ?? [] }
}

func sum(_ bytes: some Sequence<UInt8>) -> UInt8 { bytes.reduce(0, &+) }

@Suite struct ACPITablesTests {
    @Test func rsdpIsAtTheFixedAddressWithBothChecksums() throws {
        let written = try WrittenTables(vcpus: 1)
        #expect(written.rsdpAddress == 0xe_0000)
        #expect(ACPITables.rsdpAddress == GuestAddress(0xe_0000))
        #expect(sum(written.rsdp[0..<20]) == 0)
        #expect(sum(written.rsdp) == 0)
        #expect(written.rsdp[15] == 2)                                   // revision: use the XSDT
        #expect(written.rsdp.get(UInt32.self, at: 16) == 0)              // no RSDT
        #expect(written.rsdp.get(UInt32.self, at: 20) == 36)
        #expect(Array(written.rsdp[9..<15]) == Array("KILN  ".utf8))
    }

    @Test func xsdtListsTheFADTAndMADT() throws {
        let written = try WrittenTables(vcpus: 2)
        #expect(Array(written.xsdt[0..<4]) == Array("XSDT".utf8))
        #expect(written.xsdt.count == 36 + 16)
        #expect(Set(written.tables.keys) == ["FACP", "APIC", "DSDT"])
        let entries = [written.xsdt.get(UInt64.self, at: 36), written.xsdt.get(UInt64.self, at: 44)]
        #expect(entries == [written.tables["FACP"]?.address, written.tables["APIC"]?.address])
    }

    @Test(arguments: [1, 2, 8, 254])
    func everyTableChecksumsAndFitsBelow1MiB(vcpus: Int) throws {
        let written = try WrittenTables(vcpus: vcpus)
        #expect(sum(written.xsdt) == 0)
        for (signature, table) in written.tables {
            #expect(sum(table.bytes) == 0, "\(signature) checksum")
            #expect(table.address % 16 == 0, "\(signature) alignment")
            #expect(table.address >= 0xe_0000 && table.address + UInt64(table.bytes.count) <= 0x10_0000)
            #expect(Array(table.bytes[10..<16]) == Array("KILN  ".utf8))
        }
        let image = try ACPITables.bytes(vcpuCount: vcpus)
        #expect(0xe_0000 + image.count <= 0x10_0000)
    }

    @Test func tablesDoNotOverlap() throws {
        let written = try WrittenTables(vcpus: 4)
        var ranges = written.tables.values.map { $0.address..<$0.address + UInt64($0.bytes.count) }
        ranges.append(written.rsdpAddress..<written.rsdpAddress + 36)
        ranges.append(written.rsdp.get(UInt64.self, at: 24)..<written.rsdp.get(UInt64.self, at: 24) + 52)
        for (i, a) in ranges.enumerated() {
            for b in ranges[(i + 1)...] { #expect(!a.overlaps(b)) }
        }
    }

    @Test func fadtIsHardwareReducedWithTheSleepRegister() throws {
        let fadt = try WrittenTables(vcpus: 1)["FACP"]
        #expect(fadt.count == 276)
        #expect(fadt[8] == 6)                                            // revision
        #expect(fadt[131] == 5)                                          // minor revision
        let flags = fadt.get(UInt32.self, at: 112)
        #expect(flags & (1 << 20) != 0)                                  // HW_REDUCED_ACPI
        #expect(flags & (1 << 10) == 0)                                  // no RESET_REG_SUP
        #expect(fadt.get(UInt32.self, at: 40) == 0)                      // 32-bit DSDT unused
        #expect(fadt.get(UInt64.self, at: 132) == 0)                     // no FACS
        #expect(fadt.get(UInt16.self, at: 46) == 0)                      // no SCI
        #expect(fadt.get(UInt16.self, at: 109) & (1 << 1) != 0)          // 8042 present
        // SLEEP_CONTROL_REG and SLEEP_STATUS_REG: SystemIO, 8 bits, offset 0, byte access, 0x3c0.
        for offset in [244, 256] {
            #expect(Array(fadt[offset..<offset + 4]) == [1, 8, 0, 1])
            #expect(fadt.get(UInt64.self, at: offset + 4) == 0x3c0)
        }
        #expect(ACPILayout.sleepControlPort == 0x3c0)
        // The PM1/GPE blocks, hardware-full only, stay empty.
        for offset in stride(from: 148, to: 244, by: 12) { #expect(fadt.get(UInt64.self, at: offset + 4) == 0) }
    }

    @Test func dsdtHoldsTheSleepStateAndPvPanicDevice() throws {
        let written = try WrittenTables(vcpus: 1)
        let dsdt = written["DSDT"]
        #expect(Array(dsdt[0..<4]) == Array("DSDT".utf8))
        #expect(dsdt[8] == 2)
        #expect(Array(dsdt[36...]) == AMLTests.dsdtBody)
        #expect(written.tables["DSDT"]?.address == written["FACP"].get(UInt64.self, at: 140))
    }

    @Test(arguments: [1, 2, 5, 254])
    func madtDescribesEveryVcpuAndTheIOAPIC(vcpus: Int) throws {
        let madt = try WrittenTables(vcpus: vcpus)["APIC"]
        #expect(madt.get(UInt32.self, at: 36) == 0xfee0_0000)
        #expect(madt.get(UInt32.self, at: 40) == 0)                      // no PCAT_COMPAT
        var localAPICs: [(uid: UInt8, id: UInt8, flags: UInt32)] = []
        var ioAPICs: [(id: UInt8, address: UInt32, gsiBase: UInt32)] = []
        var overrides: [(bus: UInt8, irq: UInt8, gsi: UInt32, flags: UInt16)] = []
        var nmis: [(uid: UInt8, flags: UInt16, lint: UInt8)] = []
        var offset = 44
        while offset < madt.count {
            let (type, length) = (madt[offset], Int(madt[offset + 1]))
            #expect(length >= 2)
            switch type {
            case 0:
                #expect(length == 8)
                localAPICs.append((madt[offset + 2], madt[offset + 3], madt.get(UInt32.self, at: offset + 4)))
            case 1:
                #expect(length == 12)
                ioAPICs.append((madt[offset + 2], madt.get(UInt32.self, at: offset + 4), madt.get(UInt32.self, at: offset + 8)))
            case 2:
                #expect(length == 10)
                overrides.append((madt[offset + 2], madt[offset + 3], madt.get(UInt32.self, at: offset + 4),
                                  madt.get(UInt16.self, at: offset + 8)))
            case 4:
                #expect(length == 6)
                nmis.append((madt[offset + 2], madt.get(UInt16.self, at: offset + 3), madt[offset + 5]))
            default:
                Issue.record("unexpected MADT entry type \(type)")
            }
            offset += length
        }
        #expect(offset == madt.count)
        #expect(localAPICs.count == vcpus)
        for (index, entry) in localAPICs.enumerated() {
            #expect(entry.uid == UInt8(index) && entry.id == UInt8(index) && entry.flags == 1)
        }
        #expect(ioAPICs.count == 1)
        #expect(ioAPICs.first?.id == UInt8(vcpus))
        #expect(ioAPICs.first?.address == 0xfec0_0000)
        #expect(ioAPICs.first?.gsiBase == 0)
        // ISA IRQ 0 -> GSI 2, bus 0, flags 0 (conforms to the bus).
        #expect(overrides.count == 1)
        #expect(overrides.first.map { [$0.bus, $0.irq, UInt8($0.gsi), UInt8($0.flags)] } == [0, 0, 2, 0])
        #expect(nmis.count == 1)
        #expect(nmis.first.map { [$0.uid, UInt8($0.flags), $0.lint] } == [0xff, 0, 1])
    }

    @Test(arguments: [0, -1, 255])
    func invalidVcpuCountsAreRejected(vcpus: Int) {
        #expect(throws: ACPIError.invalidVcpuCount(vcpus, maximum: 254)) { try ACPITables.bytes(vcpuCount: vcpus) }
    }

    @Test func writingNeedsMemoryUnderTheBIOSArea() throws {
        let memory = try GuestMemory(layout: [(GuestAddress(0), 0x8_0000), (GuestAddress(0x10_0000), 0x10_0000)])
        #expect {
            try ACPITables.write(vcpuCount: 1, to: memory)
        } throws: { error in
            if case .guestMemory = error as? ACPIError { true } else { false }
        }
    }

    @Test func virtioDevicesGoIntoTheDSDT() throws {
        let devices = (0..<3).map { ACPIVirtioDevice(base: 0xd000_1000 + 0x1000 * UInt64($0), size: 0x1000, gsi: 5 + UInt32($0)) }
        let memory = try makeMemory(mebibytes: 128)
        try ACPITables.write(vcpuCount: 1, virtioDevices: devices, to: memory)
        let rsdp = try memory.readBytes(at: ACPITables.rsdpAddress, count: 36)
        let xsdt = try WrittenTables.table(in: memory, at: rsdp.get(UInt64.self, at: 24))
        let fadt = try WrittenTables.table(in: memory, at: xsdt.get(UInt64.self, at: 36))
        let dsdt = try WrittenTables.table(in: memory, at: fadt.get(UInt64.self, at: 140))
        #expect(sum(dsdt) == 0)
        #expect(Array(dsdt[36...]) == (try DSDT.aml(virtioDevices: devices)))
        for name in ["VR00", "VR01", "VR02"] {
            #expect(dsdt.indices.contains { Array(dsdt[$0..<min($0 + 4, dsdt.count)]) == Array(name.utf8) })
        }
    }

    @Test func tablesAreDeterministic() throws {
        #expect(try ACPITables.bytes(vcpuCount: 3) == ACPITables.bytes(vcpuCount: 3))
    }
}
