/// The Differentiated System Description Table: a header and AML. ACPICA refuses to load a
/// namespace without it (drivers/acpi/acpica/tbxfload.c). Kiln's holds:
/// - `\_S5_`, whose first element is the SLP_TYP Linux writes to SLEEP_CONTROL_REG to power
///   off; without it Linux registers no ACPI power-off handler (drivers/acpi/sleep.c);
/// - `\_SB_.COM1`, the serial port with its interrupt, bound by 8250_pnp;
/// - `\_SB_.PVPN`, QEMU's pvpanic device (_HID "QEMU0001" with an I/O port), which Linux's
///   pvpanic-mmio driver binds to and writes on panic;
/// - `\_SB_.VRnn`, one per virtio-mmio transport;
/// - `\_SB_.VGEN`, the VM generation ID (Linux's vmgenid driver, `VMGENCTR`), and `\_SB_.GED0`,
///   a Generic Event Device whose interrupt runs `_EVT`, which notifies VGEN: after a snapshot
///   restore the VMM writes a new ID and raises that interrupt, and the guest kernel reseeds
///   its random number generator (add_vmfork_randomness).
enum DSDT {
    static let revision: UInt8 = 2  // 64-bit AML integers
    static let maxVirtioDevices = 256  // VR00-VRFF

    static func aml(virtioDevices: [ACPIVirtioDevice] = []) throws(ACPIError) -> [UInt8] {
        let sleepState = try AML.name("_S5_", AML.package([AML.integer(UInt64(ACPILayout.s5SleepType)), AML.integer(0)]))
        var devices = [try serialPort(), try pvpanic(), try vmGeneration(), try genericEventDevice()]
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

    static func vmGeneration() throws(ACPIError) -> [UInt8] {
        let address = ACPILayout.vmGenerationID.rawValue
        return try AML.device("VGEN", [
            AML.name("_HID", AML.string("VMGENCTR")),
            AML.name("_CID", AML.string("VM_GEN_COUNTER")),
            AML.name("_DDN", AML.string("VM_Gen_Counter")),
            // The ID's guest-physical address as two 32-bit halves, as the spec defines ADDR.
            AML.name("ADDR", AML.package([AML.integer(address & 0xffff_ffff), AML.integer(address >> 32)])),
        ])
    }

    static func genericEventDevice() throws(ACPIError) -> [UInt8] {
        try AML.device("GED0", [
            AML.name("_HID", AML.string("ACPI0013")),
            AML.name("_UID", AML.integer(0)),
            AML.name("_CRS", AMLResource.template([AMLResource.interrupt(gsi: ACPILayout.gedGSI)])),
            // One event source, so _EVT need not look at its argument (the GSI).
            AML.method("_EVT", arguments: 1, [AML.notify("\\_SB_.VGEN", 0x80)]),
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
