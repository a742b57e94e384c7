import GuestMemory

/// Minimal ACPI for a hardware-reduced x86 guest, as Cloud Hypervisor gives one: RSDP ->
/// XSDT -> {FADT -> DSDT, MADT}. It exists so that a guest can power off (`\_S5_` and the
/// FADT's sleep control register) and report a panic (the pvpanic device in the DSDT); the
/// MADT repeats what the MP table says, because with ACPI on Linux reads only the MADT.
///
/// Hardware-reduced means no 8259 for Linux: it numbers IRQs dynamically and gives an
/// interrupt only to devices the DSDT describes. So COM1 is in the DSDT, and virtio-mmio
/// devices must be passed here rather than on the command line.
///
/// All tables form one image written at `rsdpAddress`, inside the BIOS area that the e820
/// map leaves out. The VMM should also set `boot_params.acpi_rsdp_addr` to `rsdpAddress`
/// (Linux then skips the scan), and must serve `ACPILayout.sleepControlPort` and
/// `ACPILayout.pvpanicPort`.
public enum ACPITables {
    public static let rsdpAddress = ACPILayout.rsdp
    /// APIC ids 0...253 for vCPUs; the IOAPIC takes the next id and 0xFF means broadcast.
    public static let maxVcpus = 254

    static var available: Int { Int(ACPILayout.vmGenerationID.rawValue - rsdpAddress.rawValue) }

    /// Where each table sits in guest-physical memory.
    struct Placement: Equatable {
        var xsdt: UInt64
        var fadt: UInt64
        var madt: UInt64
        var dsdt: UInt64
        var end: UInt64
    }

    /// The tables for `vcpuCount` vCPUs with APIC ids 0..<vcpuCount and the given virtio-mmio
    /// transports, as one image to be written at `rsdpAddress`.
    public static func bytes(vcpuCount: Int, virtioDevices: [ACPIVirtioDevice] = []) throws(ACPIError) -> [UInt8] {
        guard vcpuCount >= 1, vcpuCount <= maxVcpus else { throw .invalidVcpuCount(vcpuCount, maximum: maxVcpus) }
        let dsdt = try DSDT.bytes(virtioDevices: virtioDevices)
        let madt = MADT.bytes(vcpuCount: vcpuCount)
        let place = placement(dsdtSize: dsdt.count, madtSize: madt.count)
        let used = Int(place.end - rsdpAddress.rawValue)
        guard used <= available else { throw .tablesTooLarge(bytes: used, available: available) }

        var image = [UInt8](repeating: 0, count: used)
        func put(_ table: [UInt8], at address: UInt64) {
            let offset = Int(address - rsdpAddress.rawValue)
            image.replaceSubrange(offset..<offset + table.count, with: table)
        }
        put(RSDP.bytes(xsdtAddress: place.xsdt), at: rsdpAddress.rawValue)
        put(XSDT.bytes(entries: [place.fadt, place.madt]), at: place.xsdt)
        put(FADT.bytes(dsdtAddress: place.dsdt), at: place.fadt)
        put(madt, at: place.madt)
        put(dsdt, at: place.dsdt)
        return image
    }

    /// Builds the tables and writes them at `rsdpAddress`.
    public static func write(vcpuCount: Int, virtioDevices: [ACPIVirtioDevice] = [],
                             to memory: GuestMemory) throws(ACPIError) {
        let image = try bytes(vcpuCount: vcpuCount, virtioDevices: virtioDevices)
        do throws(GuestMemoryError) {
            try memory.write(image, to: rsdpAddress)
        } catch {
            throw .guestMemory(error)
        }
    }

    /// RSDP first (where the scan finds it), then XSDT, FADT, MADT, DSDT, each aligned.
    static func placement(dsdtSize: Int, madtSize: Int) -> Placement {
        var next = rsdpAddress.rawValue
        func take(_ size: Int) -> UInt64 {
            let address = next
            next = align(address + UInt64(size))
            return address
        }
        _ = take(RSDP.size)
        let xsdt = take(XSDT.size(entries: 2))
        let fadt = take(FADT.size)
        let madt = take(madtSize)
        let dsdt = take(dsdtSize)
        return Placement(xsdt: xsdt, fadt: fadt, madt: madt, dsdt: dsdt, end: dsdt + UInt64(dsdtSize))
    }

    private static func align(_ address: UInt64) -> UInt64 {
        let alignment = UInt64(ACPILayout.tableAlignment)
        return (address + alignment - 1) & ~(alignment - 1)
    }
}
