import GuestMemory
import X86Boot

/// Guest RAM for the kernel loaders: 32 MiB laid out as the VMM lays it out, reused by every
/// input (a loader only writes into it).
private let loaderMemory = try! GuestMemory(layout: GuestRAM.layout(mebibytes: 32))

private func load(_ image: [UInt8]) {
    _ = image.withUnsafeBytes { try? KernelLoader.load($0, into: loaderMemory) }
}

private extension Array where Element == UInt8 {
    mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        if count < offset + MemoryLayout<T>.size { self += repeatElement(0, count: offset + MemoryLayout<T>.size - count) }
        for i in 0..<MemoryLayout<T>.size { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
}

/// ELF vmlinux: the input is the image after its identification bytes (magic, 64-bit, little
/// endian, current version), so every input is an ELF64 header the loader must parse; the
/// program headers, segment ranges and entry point are the fuzzer's.
let elfTarget = FuzzTarget(name: "elf", guestFacing: false, run: { bytes in
    load([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1] + Array(bytes))
}, seeds: {
    var image = [UInt8](repeating: 0, count: 64 + 2 * 56)
    image.put(UInt16(2), at: 0x10); image.put(UInt16(62), at: 0x12); image.put(UInt32(1), at: 0x14)
    image.put(UInt64(0x10_0040), at: 0x18); image.put(UInt64(64), at: 0x20)
    image.put(UInt16(64), at: 0x34); image.put(UInt16(56), at: 0x36); image.put(UInt16(2), at: 0x38)
    for (index, (address, size)) in [(UInt64(0x10_0000), UInt64(0x300)), (0x20_0000, 0x80)].enumerated() {
        let header = 64 + index * 56
        image.put(UInt32(1), at: header); image.put(UInt32(7), at: header + 4)
        image.put(UInt64(image.count), at: header + 8)
        image.put(address, at: header + 16); image.put(address, at: header + 24)
        image.put(size, at: header + 32); image.put(size * 2, at: header + 40)
        image += [UInt8](repeating: UInt8(index + 1), count: Int(size))
    }
    return [Array(image.dropFirst(7))]
})

/// bzImage: the input is the whole image, except that (for most inputs) the boot flag, "HdrS"
/// and a protocol version the loader accepts are written over it, so the rest of the setup
/// header — sizes, alignment, addresses, flags — is what gets fuzzed.
let bzImageTarget = FuzzTarget(name: "bzimage", guestFacing: false, run: { bytes in
    var image = Array(bytes)
    if let first = image.first, first < 224 {
        image.put(UInt16(0xaa55), at: 0x1fe)
        image.put(UInt32(0x5372_6448), at: 0x202)
        if first < 128 { image.put(UInt16(0x020f), at: 0x206) }
    }
    load(image)
}, seeds: {
    var image = [UInt8](repeating: 0, count: 2 * 512 + 0x400)
    image[0x1f1] = 1
    image[0x200] = 0xeb; image[0x201] = 0x66
    image.put(UInt16(0x020f), at: 0x206)
    image[0x211] = 1
    image.put(UInt32(0x7fff_ffff), at: 0x22c)
    image.put(UInt32(0x20_0000), at: 0x230)
    image[0x234] = 1
    image.put(UInt16(1), at: 0x236)
    image.put(UInt32(2047), at: 0x238)
    image.put(UInt64(0x100_0000), at: 0x258)
    image.put(UInt32(0x40_0000), at: 0x260)
    return [image]
})
