/// The Differentiated System Description Table: a header and AML. ACPICA refuses to load a
/// namespace without it (drivers/acpi/acpica/tbxfload.c). Kiln's holds:
/// - `\_S5_`, whose first element is the SLP_TYP Linux writes to SLEEP_CONTROL_REG to power
///   off; without it Linux registers no ACPI power-off handler (drivers/acpi/sleep.c);
/// - `\_SB_.COM1`, the serial port with its interrupt, bound by 8250_pnp;
/// - `\_SB_.PVPN`, QEMU's pvpanic device (_HID "QEMU0001" with an I/O port), which Linux's
///   pvpanic-mmio driver binds to and writes on panic;
/// - `\_SB_.VRnn`, one per virtio-mmio transport.
enum DSDT {
    static let revision: UInt8 = 2  // 64-bit AML integers
    static let maxVirtioDevices = 256  // VR00-VRFF

    static func aml(virtioDevices: [ACPIVirtioDevice] = []) throws(ACPIError) -> [UInt8] {
        let sleepState = try AML.name("_S5_", AML.package([AML.integer(UInt64(ACPILayout.s5SleepType)), AML.integer(0)]))
        var devices = [try serialPort(), try pvpanic()]
        guard virtioDevices.count <= maxVirtioDevices else { throw .invalidVirtioDevice(index: maxVirtioDevices) }
        for (index, device) in virtioDevices.enumerated() { devices.append(try virtio(device, index: index)) }
        return sleepState + (try AML.scope("_SB_", devices))
    }

    static func bytes(virtioDevices: [ACPIVirtioDevice] = []) throws(ACPIError) -> [UInt8] {
        let body = try aml(virtioDevices: virtioDevices)
        var table = SystemDescriptionTable.start(signature: "DSDT", revision: revision,
                                                 length: SystemDescriptionTable.headerSize + body.count)
        table.set(bytes: body, at: SystemDescriptionTable.headerSize)
        return SystemDescriptionTable.finish(&table)
    }

    static func serialPort() throws(ACPIError) -> [UInt8] {
        let port = ACPILayout.serialPort
        return try AML.device("COM1", [
            AML.name("_HID", AML.eisaID("PNP0501")),
            AML.name("_UID", AML.integer(0)),
            AML.name("_CRS", AMLResource.template([
                AMLResource.io(minimum: port, maximum: port, alignment: 1, length: ACPILayout.serialPortCount),
                AMLResource.interrupt(gsi: ACPILayout.serialGSI),
            ])),
        ])
    }

    static func pvpanic() throws(ACPIError) -> [UInt8] {
        let port = UInt16(ACPILayout.pvpanicPort)
        return try AML.device("PVPN", [
            AML.name("_HID", AML.string("QEMU0001")),
            // Present, enabled, shown in the UI, functioning.
            AML.name("_STA", AML.integer(0x0f)),
            AML.name("_CRS", AMLResource.template([
                AMLResource.io(minimum: port, maximum: port, alignment: 1, length: UInt8(ACPILayout.pvpanicSize)),
            ])),
        ])
    }

    static func virtio(_ device: ACPIVirtioDevice, index: Int) throws(ACPIError) -> [UInt8] {
        guard let base = UInt32(exactly: device.base), let size = UInt32(exactly: device.size),
              UInt64(base) + UInt64(size) <= 1 << 32 else { throw .invalidVirtioDevice(index: index) }
        let hex = Array("0123456789ABCDEF")
        return try AML.device("VR" + String(hex[index >> 4]) + String(hex[index & 0xf]), [
            AML.name("_HID", AML.string("LNRO0005")),
            AML.name("_UID", AML.integer(UInt64(index))),
            AML.name("_CRS", AMLResource.template([
                AMLResource.memory32Fixed(base: base, length: size),
                AMLResource.interrupt(gsi: device.gsi),
            ])),
        ])
    }
}
