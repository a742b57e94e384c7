/// The Fixed ACPI Description Table (ACPI 6.5 section 5.2.9), revision 6, for a
/// hardware-reduced platform: no PM1/GPE blocks, no SCI, no FACS. Linux takes the
/// HW_REDUCED_ACPI flag from the table's bytes whatever its revision, and then powers off by
/// writing SLP_TYP|SLP_EN to SLEEP_CONTROL_REG (drivers/acpi/acpica/hwesleep.c).
enum FADT {
    static let size = 276  // ACPI 6.0+ length, up to and including the hypervisor vendor id
    static let revision: UInt8 = 6
    static let minorRevision: UInt8 = 5

    // Field offsets (ACPI 6.5 table 5.9).
    static let dsdtOffset = 40
    static let iapcBootArchOffset = 109
    static let flagsOffset = 112
    static let minorRevisionOffset = 131
    static let xDSDTOffset = 140
    static let sleepControlOffset = 244
    static let sleepStatusOffset = 256
    static let hypervisorVendorOffset = 268

    // Flags (table 5.10). Both button flags say "no fixed-feature button": there is none.
    static let powerButtonIsControlMethod: UInt32 = 1 << 4
    static let sleepButtonIsControlMethod: UInt32 = 1 << 5
    static let hardwareReducedACPI: UInt32 = 1 << 20
    static let flags = hardwareReducedACPI | powerButtonIsControlMethod | sleepButtonIsControlMethod

    // IA-PC boot architecture flags (table 5.11). The 8042 bit keeps Linux's view of Kiln's
    // i8042 what it is without ACPI (arch/x86/kernel/acpi/boot.c marks the controller absent
    // when a revision >= 3 FADT lacks it); there is no VGA, MSI, PCIe ASPM, or CMOS RTC.
    static let has8042: UInt16 = 1 << 1
    static let noVGA: UInt16 = 1 << 2
    static let noMSI: UInt16 = 1 << 3
    static let noASPM: UInt16 = 1 << 4
    static let noCMOSRTC: UInt16 = 1 << 5
    static let iapcBootArch = has8042 | noVGA | noMSI | noASPM | noCMOSRTC

    static let hypervisorVendor = Array("KILNVMM ".utf8)

    static func bytes(dsdtAddress: UInt64) -> [UInt8] {
        var table = SystemDescriptionTable.start(signature: "FACP", revision: revision, length: size)
        // The 32-bit DSDT field stays 0: the specification wants it zero when X_DSDT is set.
        table.set(iapcBootArch, at: iapcBootArchOffset)
        table.set(flags, at: flagsOffset)
        table.set(minorRevision, at: minorRevisionOffset)
        table.set(dsdtAddress, at: xDSDTOffset)
        // Control and status share one byte-wide port: Linux first writes WAK_STS (0x80) to
        // the status register, which the device ignores, then SLP_TYP|SLP_EN to control.
        let sleepRegister = GenericAddress.ioPort(ACPILayout.sleepControlPort, byteWidth: 1)
        table.set(bytes: sleepRegister, at: sleepControlOffset)
        table.set(bytes: sleepRegister, at: sleepStatusOffset)
        table.set(bytes: hypervisorVendor, at: hypervisorVendorOffset)
        return SystemDescriptionTable.finish(&table)
    }
}

/// A Generic Address Structure (ACPI 6.5 section 5.2.3.2), 12 bytes.
enum GenericAddress {
    static let size = 12
    static let systemIOSpace: UInt8 = 1

    /// A register of `byteWidth` bytes in I/O space, accessed with that width (access size
    /// codes: 1 byte, 2 word, 3 dword, 4 qword).
    static func ioPort(_ port: UInt64, byteWidth: Int) -> [UInt8] {
        let accessSize = UInt8(byteWidth.trailingZeroBitCount + 1)
        return [systemIOSpace, UInt8(8 * byteWidth), 0, accessSize] + AML.littleEndian(port, count: 8)
    }
}
