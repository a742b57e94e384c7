import GuestMemory
import X86Boot

/// Little-endian patching of crafted images, so each test states the one field it breaks.
extension Array where Element == UInt8 {
    mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        for i in 0..<MemoryLayout<T>.size { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    func get<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(self[offset + i]) << (8 * i) }
        return value
    }
}

/// Bytes 0, 1, 2... (mod 251, so runs never line up with powers of two), offset by `seed`.
func pattern(_ count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8((($0 + seed) % 251) + 1) }
}

func makeMemory(mebibytes: UInt64) throws -> GuestMemory {
    try GuestMemory(layout: GuestRAM.layout(mebibytes: mebibytes))
}

func load(_ image: [UInt8], into memory: GuestMemory) throws -> LoadedKernel {
    try image.withUnsafeBytes { try KernelLoader.load($0, into: memory) }
}

/// An ELF64 x86_64 executable: header, program headers right after it, segment data after those.
struct ELFBuilder {
    struct Segment {
        var type: UInt32 = 1  // PT_LOAD
        var address: UInt64
        var data: [UInt8]
        var memorySize: UInt64
    }

    static let phdrOffset = 64
    static let phdrSize = 56

    var entry: UInt64
    var segments: [Segment]

    /// Offset of program header `i` in `bytes()`, for tests that corrupt one field.
    static func programHeader(_ i: Int) -> Int { phdrOffset + i * phdrSize }

    func bytes() -> [UInt8] {
        var image = [UInt8](repeating: 0, count: Self.phdrOffset + segments.count * Self.phdrSize)
        image.replaceSubrange(0..<4, with: [0x7f, 0x45, 0x4c, 0x46])
        image[4] = 2  // ELFCLASS64
        image[5] = 1  // little-endian
        image[6] = 1  // EV_CURRENT
        image.put(UInt16(2), at: 0x10)   // ET_EXEC
        image.put(UInt16(62), at: 0x12)  // EM_X86_64
        image.put(UInt32(1), at: 0x14)
        image.put(entry, at: 0x18)
        image.put(UInt64(Self.phdrOffset), at: 0x20)
        image.put(UInt16(64), at: 0x34)
        image.put(UInt16(Self.phdrSize), at: 0x36)
        image.put(UInt16(segments.count), at: 0x38)
        for (i, segment) in segments.enumerated() {
            let header = Self.programHeader(i)
            image.put(segment.type, at: header)
            image.put(UInt32(7), at: header + 4)
            image.put(UInt64(image.count), at: header + 8)    // p_offset
            image.put(segment.address, at: header + 16)       // p_vaddr
            image.put(segment.address, at: header + 24)       // p_paddr
            image.put(UInt64(segment.data.count), at: header + 32)
            image.put(segment.memorySize, at: header + 40)
            image.put(UInt64(0x1000), at: header + 48)
            image += segment.data
        }
        return image
    }

    /// Text at 1 MiB (entry inside it) and data + bss at 2 MiB, like a test guest.
    static var twoSegments: ELFBuilder {
        ELFBuilder(entry: 0x10_0040, segments: [
            Segment(address: 0x10_0000, data: pattern(0x300), memorySize: 0x300),
            Segment(address: 0x20_0000, data: pattern(0x80, seed: 7), memorySize: 0x2000),
        ])
    }
}

/// A bzImage: `setupSectors` sectors of setup after the boot sector, then the kernel.
struct BzImageBuilder {
    var setupSectors: UInt8 = 1
    var version: UInt16 = 0x020f
    var loadflags: UInt8 = 0x01        // LOADED_HIGH
    var xloadflags: UInt16 = 0x01      // XLF_KERNEL_64
    var relocatable: UInt8 = 1
    var kernelAlignment: UInt32 = 0x20_0000
    var preferredAddress: UInt64 = 0x100_0000
    var initSize: UInt32 = 0x40_0000
    var initrdAddressMax: UInt32 = 0x7fff_ffff
    var commandLineSize: UInt32 = 2047
    var kernel: [UInt8] = pattern(0x1800, seed: 3)

    /// Size of boot sector + setup: where the kernel starts in the image.
    var setupSize: Int { (Int(setupSectors == 0 ? 4 : setupSectors) + 1) * 512 }

    func bytes() -> [UInt8] {
        var image = [UInt8](repeating: 0, count: setupSize)
        image[0x1f1] = setupSectors
        image.put(UInt16(0xaa55), at: 0x1fe)
        image[0x200] = 0xeb                     // jmp short over the header...
        image[0x201] = 0x66                     // ...which ends at 0x202 + 0x66 = 0x268
        image.put(UInt32(0x5372_6448), at: 0x202)  // "HdrS"
        image.put(version, at: 0x206)
        image[0x211] = loadflags
        image.put(UInt32(0x10_0000), at: 0x214)
        image.put(initrdAddressMax, at: 0x22c)
        image.put(kernelAlignment, at: 0x230)
        image[0x234] = relocatable
        image.put(xloadflags, at: 0x236)
        image.put(commandLineSize, at: 0x238)
        image.put(UInt64(0xdead_beef), at: 0x250)  // setup_data planted by a hostile image
        image.put(preferredAddress, at: 0x258)
        image.put(initSize, at: 0x260)
        image[0x268] = 0xcc                     // setup code: must not reach the zero page
        return image + kernel
    }
}
