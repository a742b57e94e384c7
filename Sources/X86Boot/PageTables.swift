import GuestMemory

/// Boot page tables: long mode cannot be entered without paging, so the first 4 GiB are
/// identity-mapped with 2 MiB pages (PML4 -> one PDPT -> four page directories). That covers
/// the kernel, zero page, command line, initrd and the MMIO below 4 GiB; the kernel builds
/// its own tables early on.
public enum PageTables {
    static let present: UInt64 = 1 << 0
    static let writable: UInt64 = 1 << 1
    static let largePage: UInt64 = 1 << 7
    static let entriesPerTable = 512
    static let largePageSize: UInt64 = 2 << 20
    static let directoryCount = Int(Layout.identityMappedBytes >> 30)

    public static func write(to memory: GuestMemory) throws(BootError) {
        var pml4 = StructureBuffer(count: Int(pageSize))
        pml4.set(Layout.pdpt.rawValue | present | writable, at: 0)

        var pdpt = StructureBuffer(count: Int(pageSize))
        var directories = StructureBuffer(count: Int(pageSize) * directoryCount)
        for directory in 0..<directoryCount {
            let directoryAddress = Layout.pageDirectories.rawValue + UInt64(directory) * pageSize
            pdpt.set(directoryAddress | present | writable, at: directory * 8)
            for entry in 0..<entriesPerTable {
                let page = UInt64(directory * entriesPerTable + entry) * largePageSize
                directories.set(page | present | writable | largePage, at: (directory * entriesPerTable + entry) * 8)
            }
        }
        try inGuest { () throws(GuestMemoryError) in
            try memory.write(pml4.bytes, to: Layout.pml4)
            try memory.write(pdpt.bytes, to: Layout.pdpt)
            try memory.write(directories.bytes, to: Layout.pageDirectories)
        }
    }
}
