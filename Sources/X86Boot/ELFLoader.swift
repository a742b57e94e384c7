import GuestMemory

/// Loads an ELF64 x86_64 executable (`vmlinux` or a Kiln test guest): every PT_LOAD segment
/// is copied to its physical address `p_paddr`, the rest of `p_memsz` zero-filled.
///
/// All segments are validated before the first byte is written, so a rejected image leaves
/// guest memory untouched.
public enum ELFLoader {
    static let headerSize: UInt64 = 64
    static let programHeaderSize: UInt64 = 56
    static let classELF64: UInt8 = 2
    static let dataLittleEndian: UInt8 = 1
    static let typeExecutable: UInt16 = 2
    static let machineX86_64: UInt16 = 62
    static let segmentLoad: UInt32 = 1

    /// `\x7fELF`
    static func hasMagic(_ image: UnsafeRawBufferPointer) -> Bool {
        image.count >= 4 && image[0] == 0x7f && image[1] == 0x45 && image[2] == 0x4c && image[3] == 0x46
    }

    /// A PT_LOAD segment that passed validation.
    private struct Segment {
        let fileOffset: UInt64
        let fileSize: UInt64
        let address: UInt64
        let memorySize: UInt64
    }

    public static func load(_ buffer: UnsafeRawBufferPointer, into memory: GuestMemory) throws(BootError) -> LoadedKernel {
        let image = ImageBytes(buffer: buffer)
        guard image.size >= headerSize else {
            throw .truncated(what: "ELF header", needed: headerSize, available: image.size)
        }
        guard hasMagic(buffer) else { throw .unknownImageFormat }
        let elfClass = try image.read(UInt8.self, at: 4, "e_ident[EI_CLASS]")
        guard elfClass == classELF64 else { throw .elfNot64Bit(elfClass: elfClass) }
        let encoding = try image.read(UInt8.self, at: 5, "e_ident[EI_DATA]")
        guard encoding == dataLittleEndian else { throw .elfNotLittleEndian(encoding: encoding) }
        let type = try image.read(UInt16.self, at: 0x10, "e_type")
        guard type == typeExecutable else { throw .elfNotExecutable(type: type) }
        let machine = try image.read(UInt16.self, at: 0x12, "e_machine")
        guard machine == machineX86_64 else { throw .elfWrongMachine(machine) }
        let entry = try image.read(UInt64.self, at: 0x18, "e_entry")
        let tableOffset = try image.read(UInt64.self, at: 0x20, "e_phoff")
        let entrySize = try image.read(UInt16.self, at: 0x36, "e_phentsize")
        let entryCount = try image.read(UInt16.self, at: 0x38, "e_phnum")
        guard UInt64(entrySize) >= programHeaderSize else { throw .elfBadProgramHeaderSize(entrySize) }

        // Both factors are 16-bit, so the table size cannot overflow; its end can.
        let tableSize = UInt64(entrySize) * UInt64(entryCount)
        guard image.bytes(at: tableOffset, count: tableSize) != nil else {
            let (end, overflow) = tableOffset.addingReportingOverflow(tableSize)
            throw .truncated(what: "ELF program header table", needed: overflow ? .max : end, available: image.size)
        }

        var segments: [Segment] = []
        for index in 0..<Int(entryCount) {
            let header = tableOffset + UInt64(index) * UInt64(entrySize)  // inside the table: checked above
            guard try image.read(UInt32.self, at: header, "p_type") == segmentLoad else { continue }
            let segment = Segment(
                fileOffset: try image.read(UInt64.self, at: header + 8, "p_offset"),
                fileSize: try image.read(UInt64.self, at: header + 32, "p_filesz"),
                address: try image.read(UInt64.self, at: header + 24, "p_paddr"),
                memorySize: try image.read(UInt64.self, at: header + 40, "p_memsz"))
            try validate(segment, index: index, image: image, memory: memory)
            if segment.memorySize > 0 { segments.append(segment) }
        }
        guard !segments.isEmpty else { throw .elfNoLoadableSegments }
        // Validation guarantees address + memorySize does not overflow.
        guard segments.contains(where: { entry >= $0.address && entry - $0.address < $0.memorySize }) else {
            throw .elfEntryOutsideSegments(entry: entry)
        }

        for segment in segments {
            // Validated: inside the image and inside one RAM region (so the sizes fit an Int).
            let source = image.bytes(at: segment.fileOffset, count: segment.fileSize)!
            let destination = try inGuest { () throws(GuestMemoryError) in
                try memory.slice(at: GuestAddress(segment.address), count: Int(segment.memorySize))
            }
            destination.copyMemory(from: source)
            let tail = UnsafeMutableRawBufferPointer(rebasing: destination[Int(segment.fileSize)...])
            tail.initializeMemory(as: UInt8.self, repeating: 0)
        }

        let start = segments.map(\.address).min()!
        let end = segments.map { $0.address + $0.memorySize }.max()!
        return LoadedKernel(kind: .elf, entry: GuestAddress(entry), loadAddress: GuestAddress(start),
                            end: GuestAddress(end), setupHeader: nil)
    }

    private static func validate(_ segment: Segment, index: Int, image: ImageBytes, memory: GuestMemory) throws(BootError) {
        guard segment.memorySize >= segment.fileSize else {
            throw .elfSegmentMemorySizeBelowFileSize(index: index, fileSize: segment.fileSize, memorySize: segment.memorySize)
        }
        let (fileEnd, fileOverflow) = segment.fileOffset.addingReportingOverflow(segment.fileSize)
        guard !fileOverflow else {
            throw .elfSegmentFileRangeOverflows(index: index, offset: segment.fileOffset, size: segment.fileSize)
        }
        guard fileEnd <= image.size else {
            throw .elfSegmentPastEndOfFile(index: index, offset: segment.fileOffset, size: segment.fileSize,
                                           fileSize: image.size)
        }
        guard segment.memorySize > 0 else { return }
        // Below 1 MiB are the zero page, page tables, GDT, command line and MP table.
        guard segment.address >= Layout.highMemoryStart.rawValue else {
            throw .elfSegmentBelowHighMemory(index: index, address: segment.address)
        }
        // `contains` rejects a range that wraps or leaves a single RAM region.
        guard memory.contains(GuestAddress(segment.address), length: segment.memorySize) else {
            throw .elfSegmentOutsideRAM(index: index, address: segment.address, size: segment.memorySize)
        }
    }
}
