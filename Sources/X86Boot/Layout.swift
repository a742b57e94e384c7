import GuestMemory

/// Where Kiln puts things in guest-physical memory on x86_64. Test guests and the boot code
/// both depend on these values; change them together.
public enum Layout {
    /// GDT used for 64-bit entry (4 entries: null, code, data, TSS).
    public static let gdt = GuestAddress(0x500)
    /// An empty IDT; the kernel installs its own.
    public static let idt = GuestAddress(0x520)
    /// Linux `boot_params` ("zero page"); %rsi points here at entry.
    public static let zeroPage = GuestAddress(0x7000)
    /// Initial stack pointer at entry.
    public static let bootStack = GuestAddress(0x8ff0)
    /// Boot page tables: PML4, one PDPT, four page directories of 2 MiB pages
    /// identity-mapping the first 4 GiB (so MMIO below 4 GiB is reachable at entry).
    public static let pml4 = GuestAddress(0x9000)
    public static let pdpt = GuestAddress(0xa000)
    public static let pageDirectories = GuestAddress(0xb000)
    public static let identityMappedBytes: UInt64 = 4 << 30
    /// Kernel command line, NUL-terminated.
    public static let commandLine = GuestAddress(0x20000)
    public static let commandLineMaxSize: UInt64 = 0x10000
    /// MP floating pointer and table live in the EBDA, which the e820 map reserves.
    public static let ebdaStart = GuestAddress(0x9fc00)
    /// Low RAM ends here; [0xa0000, 0x100000) is the legacy VGA/BIOS hole.
    public static let lowRAMEnd = GuestAddress(0xa0000)
    /// Where high RAM starts and where a kernel without its own load address goes.
    public static let highMemoryStart = GuestAddress(0x10_0000)
    /// Guest RAM never overlaps [mmioGapStart, 4 GiB): device MMIO lives there.
    public static let mmioGapStart = GuestAddress(0xd000_0000)
    public static let mmioGapEnd = GuestAddress(0x1_0000_0000)
    /// The boot-time marker (Firecracker's boot timer): the guest writes 123 here.
    public static let bootMarker = GuestAddress(0xd000_0000)
    public static let bootMarkerSize: UInt64 = 0x1000
    /// virtio-mmio device windows, 4 KiB each, follow the boot marker.
    public static let virtioMMIOStart = GuestAddress(0xd000_1000)
    public static let virtioMMIOSize: UInt64 = 0x1000
    /// KVM needs three pages for the TSS and one for the identity map, inside the 4 GiB gap.
    public static let kvmTSS: UInt64 = 0xfffb_d000
    public static let kvmIdentityMap: UInt64 = 0xfffb_c000
    /// Local APIC and IOAPIC MMIO (handled by the in-kernel irqchip).
    public static let localAPIC: UInt64 = 0xfee0_0000
    public static let ioAPIC: UInt64 = 0xfec0_0000
}
