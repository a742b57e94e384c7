/// The Differentiated System Description Table: a header and AML. ACPICA refuses to load a
/// namespace without it (drivers/acpi/acpica/tbxfload.c), so even a platform whose devices
/// are all on the command line needs one. Kiln's holds two things:
/// - `\_S5_`, whose first element is the SLP_TYP Linux writes to SLEEP_CONTROL_REG to power
///   off; without it Linux registers no ACPI power-off handler (drivers/acpi/sleep.c);
/// - `\_SB_.PVPN`, QEMU's pvpanic device (_HID "QEMU0001" with an I/O port), which Linux's
///   pvpanic-mmio driver binds to and writes on panic.
enum DSDT {
    static let revision: UInt8 = 2  // 64-bit AML integers

    static func aml() throws(ACPIError) -> [UInt8] {
        let sleepState = try AML.name("_S5_", AML.package([AML.integer(UInt64(ACPILayout.s5SleepType)), AML.integer(0)]))
        let port = UInt16(ACPILayout.pvpanicPort)
        let pvpanic = try AML.scope("_SB_", [
            AML.device("PVPN", [
                AML.name("_HID", AML.string("QEMU0001")),
                // Present, enabled, shown in the UI, functioning.
                AML.name("_STA", AML.integer(0x0f)),
                AML.name("_CRS", AMLResource.template([
                    AMLResource.io(minimum: port, maximum: port, alignment: 1, length: UInt8(ACPILayout.pvpanicSize)),
                ])),
            ]),
        ])
        return sleepState + pvpanic
    }

    static func bytes() throws(ACPIError) -> [UInt8] {
        let body = try aml()
        var table = SystemDescriptionTable.start(signature: "DSDT", revision: revision,
                                                 length: SystemDescriptionTable.headerSize + body.count)
        table.set(bytes: body, at: SystemDescriptionTable.headerSize)
        return SystemDescriptionTable.finish(&table)
    }
}
