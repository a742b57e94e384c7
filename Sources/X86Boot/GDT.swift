import GuestMemory

/// The boot GDT at `Layout.gdt` and the empty IDT at `Layout.idt`.
///
/// Same four entries as Firecracker: null, 64-bit code (selector 0x08), flat data (0x10),
/// TSS (0x18). The boot protocol names __BOOT_CS 0x10 / __BOOT_DS 0x18, but both Linux entry
/// points load their own GDT before using a selector, and Layout leaves room for four entries.
/// In long mode a TSS descriptor is 16 bytes; its upper half falls on the IDT's first,
/// all-zero entry, which is what a TSS based below 4 GiB needs there. The TSS is only there
/// so TR holds a valid busy TSS at entry; the kernel loads its own.
public enum GDT {
    public static let codeSelector: UInt16 = 0x08
    public static let dataSelector: UInt16 = 0x10
    public static let tssSelector: UInt16 = 0x18

    /// A segment descriptor from `flags` laid out as in the descriptor's bits 55:40 (G, D/B,
    /// L, AVL at 0xf000; P, DPL, S, type at 0x00ff), `base` and a 20-bit `limit`.
    public static func descriptor(flags: UInt16, base: UInt32, limit: UInt32) -> UInt64 {
        let base = UInt64(base), limit = UInt64(limit), flags = UInt64(flags)
        return ((base & 0xff00_0000) << 32) | ((flags & 0xf0ff) << 40) | ((limit & 0xf_0000) << 32)
            | ((base & 0x00ff_ffff) << 16) | (limit & 0xffff)
    }

    /// 0x00af9b000000ffff: present, DPL 0, execute/read accessed code, L=1, 4 GiB granular.
    public static let code = descriptor(flags: 0xa09b, base: 0, limit: 0xfffff)
    /// 0x00cf93000000ffff: present, DPL 0, read/write accessed data, D/B=1, 4 GiB granular.
    public static let data = descriptor(flags: 0xc093, base: 0, limit: 0xfffff)
    /// 0x008f8b000000ffff: present, busy 64-bit TSS (type 0xb), system descriptor.
    public static let tss = descriptor(flags: 0x808b, base: 0, limit: 0xfffff)

    public static let entries: [UInt64] = [0, code, data, tss]

    public static var table: DescriptorTable {
        DescriptorTable(base: Layout.gdt.rawValue, limit: UInt16(entries.count * 8 - 1))
    }

    /// One empty gate: any exception before the kernel's IDT is loaded triple-faults, which
    /// the VMM sees as a shutdown rather than as a jump through garbage.
    public static var interruptTable: DescriptorTable {
        DescriptorTable(base: Layout.idt.rawValue, limit: 7)
    }

    public static func write(to memory: GuestMemory) throws(BootError) {
        var gdt = StructureBuffer(count: entries.count * 8)
        for (i, entry) in entries.enumerated() { gdt.set(entry, at: i * 8) }
        try inGuest { () throws(GuestMemoryError) in
            try memory.write(gdt.bytes, to: Layout.gdt)
            try memory.write(UInt64(0), at: Layout.idt)
        }
    }
}
