import GuestMemory

/// Linux `struct boot_params` (Documentation/arch/x86/zero-page.rst), assembled in host
/// memory and written to `Layout.zeroPage` in one access; %rsi points at it on entry.
struct ZeroPage {
    static let size = 4096
    static let extRamdiskImage = 0x0c0
    static let extRamdiskSize = 0x0c4
    static let extCmdLinePtr = 0x0c8
    static let e820Entries = 0x1e8
    static let e820Table = 0x2d0

    /// "Undefined" boot loader: Kiln has no assigned loader id.
    static let typeOfLoaderUndefined: UInt8 = 0xff
    /// Protocol version an ELF kernel is told it was booted with: 2.12 introduced the
    /// 64-bit entry Kiln uses.
    static let elfProtocolVersion: UInt16 = 0x020c
    /// Default for an ELF kernel, which has no header of its own (as Firecracker does).
    static let elfKernelAlignment: UInt32 = 0x0100_0000
    /// End of the real-mode heap relative to the setup code, the usual value; only the
    /// 16-bit setup code uses it, but the protocol asks loaders to set it with CAN_USE_HEAP.
    static let heapEnd: UInt16 = 0xfe00

    private var buffer = StructureBuffer(count: size)

    /// Starts from the kernel's own setup header (bzImage), as the protocol prescribes, or
    /// from a minimal valid header (ELF).
    init(kernel: LoadedKernel) {
        let header = SetupHeader.self
        if let setupHeader = kernel.setupHeader {
            buffer.set(bytes: setupHeader.bytes, at: header.setupSects)
            // The image asked for nothing at these: a hostile image must not plant a
            // setup_data chain for the kernel to follow.
            buffer.set(UInt64(0), at: header.setupData)
            // Where the protected-mode kernel actually is, for the kernel's own bookkeeping.
            buffer.set(UInt32(truncatingIfNeeded: kernel.loadAddress.rawValue), at: header.code32Start)
        } else {
            buffer.set(header.bootFlagMagic, at: header.bootFlag)
            buffer.set(header.headerMagic, at: header.header)
            buffer.set(Self.elfProtocolVersion, at: header.version)
            buffer.set(Self.elfKernelAlignment, at: header.kernelAlignment)
        }
        buffer.set(Self.typeOfLoaderUndefined, at: header.typeOfLoader)
        let loadflags = buffer.get(UInt8.self, at: header.loadflags)
        buffer.set(loadflags | header.loadedHigh | header.canUseHeap, at: header.loadflags)
        buffer.set(Self.heapEnd, at: header.heapEndPtr)
    }

    /// `size` counts the terminating NUL.
    mutating func setCommandLine(at address: GuestAddress, size: Int) {
        buffer.set(UInt32(truncatingIfNeeded: address.rawValue), at: SetupHeader.cmdLinePtr)
        buffer.set(UInt32(truncatingIfNeeded: address.rawValue >> 32), at: Self.extCmdLinePtr)
        buffer.set(UInt32(truncatingIfNeeded: size), at: SetupHeader.cmdlineSize)
    }

    mutating func setInitrd(_ placement: InitrdPlacement) {
        let address = placement.address.rawValue
        buffer.set(UInt32(truncatingIfNeeded: address), at: SetupHeader.ramdiskImage)
        buffer.set(UInt32(truncatingIfNeeded: placement.size), at: SetupHeader.ramdiskSize)
        buffer.set(UInt32(truncatingIfNeeded: address >> 32), at: Self.extRamdiskImage)
        buffer.set(UInt32(truncatingIfNeeded: placement.size >> 32), at: Self.extRamdiskSize)
    }

    mutating func setMemoryMap(_ entries: [E820Entry]) throws(BootError) {
        guard entries.count <= E820.maxEntries else { throw .tooManyE820Entries(entries.count) }
        buffer.set(UInt8(entries.count), at: Self.e820Entries)
        for (i, entry) in entries.enumerated() {
            let offset = Self.e820Table + i * E820Entry.encodedSize
            buffer.set(entry.address, at: offset)
            buffer.set(entry.size, at: offset + 8)
            buffer.set(entry.kind.rawValue, at: offset + 16)
        }
    }

    func write(to memory: GuestMemory) throws(BootError) {
        try inGuest { () throws(GuestMemoryError) in try memory.write(buffer.bytes, to: Layout.zeroPage) }
    }
}
