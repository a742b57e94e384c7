/// The Linux/x86 `setup_header` (Documentation/arch/x86/boot.rst): it sits at 0x1f1 both in a
/// bzImage and in `boot_params`, so offsets here are absolute in either.
public struct SetupHeader: Sendable, Equatable {
    // Field offsets from the start of the image / zero page.
    static let setupSects = 0x1f1
    static let bootFlag = 0x1fe
    static let jump = 0x200
    static let header = 0x202
    static let version = 0x206
    static let code32Start = 0x214
    static let typeOfLoader = 0x210
    static let loadflags = 0x211
    static let ramdiskImage = 0x218
    static let ramdiskSize = 0x21c
    static let heapEndPtr = 0x224
    static let cmdLinePtr = 0x228
    static let initrdAddrMax = 0x22c
    static let kernelAlignment = 0x230
    static let relocatableKernel = 0x234
    static let xloadflags = 0x236
    static let cmdlineSize = 0x238
    static let setupData = 0x250
    static let prefAddress = 0x258
    static let initSize = 0x260
    /// Where `boot_params` stops holding the header (its next field, edd_mbr_sig_buffer, is here).
    static let zeroPageLimit = 0x290

    static let bootFlagMagic: UInt16 = 0xaa55
    static let headerMagic: UInt32 = 0x5372_6448  // "HdrS"
    static let loadedHigh: UInt8 = 0x01
    static let canUseHeap: UInt8 = 0x80
    static let xlfKernel64: UInt16 = 0x01
    /// What the protocol documents for kernels that predate `initrd_addr_max`, and what Kiln
    /// assumes for an ELF vmlinux, which has no header to say otherwise.
    public static let defaultInitrdAddressMax: UInt32 = 0x37ff_ffff

    /// Image bytes [0x1f1, end of header), copied verbatim into the zero page at 0x1f1.
    public let bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Field at absolute `offset`, or nil when the image's header stops before it.
    private func field<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T? {
        let start = offset - Self.setupSects
        let width = MemoryLayout<T>.size
        guard start >= 0, start + width <= bytes.count else { return nil }
        var value: T = 0
        for i in 0..<width { value |= T(bytes[start + i]) << (8 * i) }
        return value
    }

    public var version: UInt16 { field(UInt16.self, at: Self.version) ?? 0 }
    public var loadflags: UInt8 { field(UInt8.self, at: Self.loadflags) ?? 0 }
    /// 0 means 4, for compatibility with the oldest kernels.
    public var setupSectors: Int {
        let sects = Int(field(UInt8.self, at: Self.setupSects) ?? 0)
        return sects == 0 ? 4 : sects
    }
    public var initrdAddressMax: UInt32 {
        field(UInt32.self, at: Self.initrdAddrMax) ?? Self.defaultInitrdAddressMax
    }
    public var kernelAlignment: UInt32 { field(UInt32.self, at: Self.kernelAlignment) ?? 0 }
    public var isRelocatable: Bool { version >= 0x0205 && (field(UInt8.self, at: Self.relocatableKernel) ?? 0) != 0 }
    public var xloadflags: UInt16 { version >= 0x020c ? field(UInt16.self, at: Self.xloadflags) ?? 0 : 0 }
    /// Longest command line the kernel accepts, without the terminating NUL (2.06+).
    public var commandLineSize: UInt32 { field(UInt32.self, at: Self.cmdlineSize) ?? 255 }
    /// Where the kernel prefers to run (2.10+); 1 MiB before that.
    public var preferredAddress: UInt64 {
        version >= 0x020a ? field(UInt64.self, at: Self.prefAddress) ?? 0x10_0000 : 0x10_0000
    }
    /// Memory the kernel needs from its runtime start before it reads the memory map (2.10+).
    public var initSize: UInt32 { version >= 0x020a ? field(UInt32.self, at: Self.initSize) ?? 0 : 0 }
}
