import GuestMemory

/// Loads a bzImage for the 64-bit boot protocol: the real-mode setup code is skipped and
/// the protected-mode part (after `(setup_sects + 1) * 512` bytes) is copied to its load
/// address; the kernel is entered at `startup_64`, load address + 0x200.
public enum BzImageLoader {
    static let sectorSize = 512
    static let startup64Offset: UInt64 = 0x200

    /// The boot flag or the "HdrS" magic: either marks the image as meant to be a bzImage,
    /// so a damaged header is reported as such rather than as an unknown format.
    static func hasMagic(_ image: UnsafeRawBufferPointer) -> Bool {
        let bytes = ImageBytes(buffer: image)
        let flag = try? bytes.read(UInt16.self, at: UInt64(SetupHeader.bootFlag), "boot_flag")
        let magic = try? bytes.read(UInt32.self, at: UInt64(SetupHeader.header), "header")
        return flag == SetupHeader.bootFlagMagic || magic == SetupHeader.headerMagic
    }

    public static func load(_ buffer: UnsafeRawBufferPointer, into memory: GuestMemory) throws(BootError) -> LoadedKernel {
        let image = ImageBytes(buffer: buffer)
        let header = try readHeader(image)

        let setupSize = UInt64((header.setupSectors + 1) * sectorSize)
        guard image.size > setupSize else {
            throw .truncated(what: "bzImage setup code (\(header.setupSectors) sectors)",
                             needed: setupSize + 1, available: image.size)
        }
        let kernel = image.bytes(at: setupSize, count: image.size - setupSize)!
        guard UInt64(kernel.count) > startup64Offset else {
            throw .truncated(what: "bzImage kernel (64-bit entry at +0x200)",
                             needed: setupSize + startup64Offset + 1, available: image.size)
        }
        // The kernel works in place: it needs init_size bytes from its start (at least the image).
        let footprint = max(UInt64(kernel.count), UInt64(header.initSize))

        let address = try loadAddress(for: header, footprint: footprint, memory: memory)
        try inGuest { () throws(GuestMemoryError) in try memory.write(kernel, to: GuestAddress(address)) }
        // loadAddress checked address + footprint against RAM, and footprint > 0x200.
        return LoadedKernel(kind: .bzImage, entry: GuestAddress(address + startup64Offset),
                            loadAddress: GuestAddress(address), end: GuestAddress(address + footprint),
                            setupHeader: header)
    }

    /// Validates what the 64-bit boot protocol requires and copies the header out of the image.
    static func readHeader(_ image: ImageBytes) throws(BootError) -> SetupHeader {
        let flag = try image.read(UInt16.self, at: UInt64(SetupHeader.bootFlag), "bzImage boot_flag")
        guard flag == SetupHeader.bootFlagMagic else { throw .bzImageBadBootFlag(flag) }
        let magic = try image.read(UInt32.self, at: UInt64(SetupHeader.header), "bzImage header magic")
        guard magic == SetupHeader.headerMagic else { throw .bzImageMissingHeaderMagic(magic) }
        let version = try image.read(UInt16.self, at: UInt64(SetupHeader.version), "bzImage protocol version")
        guard version >= 0x0206 else { throw .bzImageProtocolTooOld(version: version) }

        // The header ends at 0x202 + the jump's displacement byte; boot_params holds it up to 0x290.
        let jumpLength = try image.read(UInt8.self, at: UInt64(SetupHeader.jump + 1), "bzImage header jump")
        let headerEnd = min(SetupHeader.header + Int(jumpLength), SetupHeader.zeroPageLimit)
        guard let raw = image.bytes(at: UInt64(SetupHeader.setupSects),
                                    count: UInt64(headerEnd - SetupHeader.setupSects)) else {
            throw .truncated(what: "bzImage setup header", needed: UInt64(headerEnd), available: image.size)
        }
        let header = SetupHeader(bytes: Array(raw))

        guard header.loadflags & SetupHeader.loadedHigh != 0 else { throw .bzImageNotLoadedHigh(loadflags: header.loadflags) }
        guard header.xloadflags & SetupHeader.xlfKernel64 != 0 else {
            throw .bzImageNo64BitEntry(xloadflags: header.xloadflags)
        }
        if header.isRelocatable {
            let alignment = header.kernelAlignment
            guard alignment != 0, alignment & (alignment - 1) == 0 else { throw .bzImageBadKernelAlignment(alignment) }
        }
        return header
    }

    /// pref_address if the kernel fits there; for a relocatable kernel, else the lowest
    /// kernel_alignment boundary at or above 1 MiB. A non-relocatable kernel runs only at
    /// pref_address (its link address), so there is no fallback for it.
    static func loadAddress(for header: SetupHeader, footprint: UInt64, memory: GuestMemory) throws(BootError) -> UInt64 {
        let preferred = header.preferredAddress
        var candidates: [UInt64] = []
        if header.isRelocatable {
            let alignment = UInt64(header.kernelAlignment)  // a power of two: readHeader checked
            if preferred % alignment == 0 { candidates.append(preferred) }
            if let aligned = alignUp(Layout.highMemoryStart.rawValue, to: alignment) { candidates.append(aligned) }
        } else {
            candidates.append(preferred)
        }
        for address in candidates where address >= Layout.highMemoryStart.rawValue
            && memory.contains(GuestAddress(address), length: footprint) {
            return address
        }
        throw .kernelDoesNotFit(address: candidates.last ?? preferred, size: footprint)
    }
}
