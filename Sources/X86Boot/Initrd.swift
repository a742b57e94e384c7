import GuestMemory

/// Where the initrd went, as the zero page reports it.
public struct InitrdPlacement: Sendable, Equatable {
    public let address: GuestAddress
    public let size: UInt64

    public init(address: GuestAddress, size: UInt64) {
        self.address = address
        self.size = size
    }
}

public enum Initrd {
    /// The highest page-aligned address at which `size` bytes end at or below both
    /// `addressMax` (inclusive, the kernel's `initrd_addr_max`) and the end of RAM below the
    /// MMIO gap, and start at or above `kernelEnd`. High placement, as boot loaders do, leaves
    /// the kernel the most room to decompress and grow.
    public static func placement(size: UInt64, kernelEnd: GuestAddress, addressMax: UInt32,
                                 memory: GuestMemory) throws(BootError) -> InitrdPlacement {
        let ceiling = min(UInt64(addressMax) + 1, GuestRAM.endBelowGap(memory.regions))
        let floor = alignUp(kernelEnd.rawValue, to: pageSize) ?? .max
        guard size <= ceiling, floor <= ceiling else {
            throw .initrdDoesNotFit(size: size, lowest: kernelEnd.rawValue, highest: ceiling)
        }
        let address = alignDown(ceiling - size, to: pageSize)
        // The range below the gap may still have holes in a hand-made layout: check it is RAM.
        guard address >= floor, memory.contains(GuestAddress(address), length: size) else {
            throw .initrdDoesNotFit(size: size, lowest: kernelEnd.rawValue, highest: ceiling)
        }
        return InitrdPlacement(address: GuestAddress(address), size: size)
    }

    /// Places and copies `image`.
    static func load(_ image: UnsafeRawBufferPointer, kernel: LoadedKernel,
                     memory: GuestMemory) throws(BootError) -> InitrdPlacement {
        let placement = try placement(size: UInt64(image.count), kernelEnd: kernel.end,
                                      addressMax: kernel.initrdAddressMax, memory: memory)
        try inGuest { () throws(GuestMemoryError) in try memory.write(image, to: placement.address) }
        return placement
    }
}
