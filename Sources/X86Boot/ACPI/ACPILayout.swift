import GuestMemory

/// Where Kiln's ACPI tables and the two ACPI-described devices live. The tables, the devices'
/// bus registrations and the DSDT all read these values, so they change together here.
public enum ACPILayout {
    /// The RSDP. Linux (drivers/acpi/acpica/tbxfroot.c) scans [0xE0000, 0x100000) on 16-byte
    /// boundaries for "RSD PTR " when boot_params.acpi_rsdp_addr is 0, so a VMM that forgets
    /// to set that field still boots with ACPI.
    public static let rsdp = GuestAddress(0xe_0000)
    /// The other tables follow the RSDP and must end here: the BIOS area is backed by guest RAM
    /// but left out of the e820 map, so the kernel never hands the tables out as free memory.
    public static let tablesEnd = GuestAddress(0x10_0000)
    /// The 16-byte VM generation ID (Microsoft's "Virtual Machine Generation ID" spec, the
    /// `VMGENCTR` device in the DSDT): in the same e820 gap as the tables, on a page of its
    /// own, so the guest's memremap of it never covers a table. The tables end before it.
    public static let vmGenerationID = GuestAddress(0xf_f000)
    public static let vmGenerationIDSize = 16
    /// The Generic Event Device's interrupt (ACPI0013): its `_EVT` notifies the VM generation
    /// device, which is how a restored guest learns it is a new generation. Above the ISA
    /// IRQs (virtio takes 5-15), an IOAPIC pin Linux maps from this `_CRS` alone.
    public static let gedGSI: UInt32 = 16

    /// Each table starts on this boundary (8 would do for the XSDT's 64-bit entries).
    static let tableAlignment = 16

    /// The FADT's SLEEP_CONTROL_REG and SLEEP_STATUS_REG: one byte of I/O space, as in Cloud
    /// Hypervisor. A hardware-reduced platform has no PM1 blocks; this is its power-off switch.
    public static let sleepControlPort: UInt64 = 0x3c0
    public static let sleepControlSize: UInt64 = 1
    /// SLP_TYP for S5 (soft off), from the DSDT's `\_S5_` package. `ACPISleepControl` in
    /// Devices powers off on exactly this value; its tests pin the same number.
    public static let s5SleepType: UInt8 = 5

    /// COM1, described in the DSDT (PNP0501) so that Linux maps its interrupt: on a
    /// hardware-reduced platform there is no 8259, Linux reserves no ISA IRQ numbers, and the
    /// 8250 driver's built-in "IRQ 4" for 0x3f8 has no Linux IRQ behind it. Same values as
    /// the VMM's serial wiring, which MachineBuilder takes from here.
    public static let serialPort: UInt16 = 0x3f8
    public static let serialPortCount: UInt8 = 8
    public static let serialGSI: UInt32 = 4

    /// QEMU's pvpanic ISA port, described in the DSDT as device QEMU0001 with an I/O resource.
    public static let pvpanicPort: UInt64 = 0x505
    public static let pvpanicSize: UInt64 = 1
}
