import GuestMemory
import Testing
@testable import X86Boot

@Suite struct ELFLoaderTests {
    @Test func loadsBothSegmentsAndZeroFillsTheRest() throws {
        let memory = try makeMemory(mebibytes: 128)
        // Garbage where the bss goes, so zero-filling is observable.
        try memory.write([UInt8](repeating: 0xaa, count: 0x2000), to: GuestAddress(0x20_0000))
        let builder = ELFBuilder.twoSegments
        let kernel = try load(builder.bytes(), into: memory)

        #expect(kernel.kind == .elf)
        #expect(kernel.entry == GuestAddress(0x10_0040))
        #expect(kernel.loadAddress == GuestAddress(0x10_0000))
        #expect(kernel.end == GuestAddress(0x20_2000))
        #expect(kernel.setupHeader == nil)
        #expect(try memory.readBytes(at: GuestAddress(0x10_0000), count: 0x300) == builder.segments[0].data)
        #expect(try memory.readBytes(at: GuestAddress(0x20_0000), count: 0x80) == builder.segments[1].data)
        #expect(try memory.readBytes(at: GuestAddress(0x20_0080), count: 0x2000 - 0x80)
            .allSatisfy { $0 == 0 })
        #expect(try memory.read(UInt8.self, at: GuestAddress(0x20_2000)) == 0)
    }

    @Test func ignoresNonLoadSegments() throws {
        var builder = ELFBuilder.twoSegments
        builder.segments.append(.init(type: 4 /* PT_NOTE */, address: 0x10, data: [1, 2, 3], memorySize: 3))
        let kernel = try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        #expect(kernel.end == GuestAddress(0x20_2000))
    }

    @Test func rejectsBadMagic() throws {
        var image = ELFBuilder.twoSegments.bytes()
        image[1] = 0x46
        #expect(throws: BootError.unknownImageFormat) { try load(image, into: makeMemory(mebibytes: 128)) }
    }

    @Test func rejects32BitClass() throws {
        var image = ELFBuilder.twoSegments.bytes()
        image[4] = 1
        #expect(throws: BootError.elfNot64Bit(elfClass: 1)) { try load(image, into: makeMemory(mebibytes: 128)) }
    }

    @Test func rejectsBigEndian() throws {
        var image = ELFBuilder.twoSegments.bytes()
        image[5] = 2
        #expect(throws: BootError.elfNotLittleEndian(encoding: 2)) { try load(image, into: makeMemory(mebibytes: 128)) }
    }

    @Test func rejectsOtherMachine() throws {
        var image = ELFBuilder.twoSegments.bytes()
        image.put(UInt16(183), at: 0x12)  // AArch64
        #expect(throws: BootError.elfWrongMachine(183)) { try load(image, into: makeMemory(mebibytes: 128)) }
    }

    @Test func rejectsSharedObject() throws {
        var image = ELFBuilder.twoSegments.bytes()
        image.put(UInt16(3), at: 0x10)  // ET_DYN
        #expect(throws: BootError.elfNotExecutable(type: 3)) { try load(image, into: makeMemory(mebibytes: 128)) }
    }

    @Test func rejectsTruncatedHeader() throws {
        let image = Array(ELFBuilder.twoSegments.bytes().prefix(40))
        #expect(throws: BootError.truncated(what: "ELF header", needed: 64, available: 40)) {
            try load(image, into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsProgramHeaderTablePastEndOfFile() throws {
        var image = ELFBuilder.twoSegments.bytes()
        image.put(UInt16(400), at: 0x38)  // e_phnum far beyond the file
        #expect(throws: BootError.truncated(what: "ELF program header table", needed: 64 + 400 * 56,
                                            available: UInt64(image.count))) {
            try load(image, into: makeMemory(mebibytes: 128))
        }
        image.put(UInt16(2), at: 0x38)
        image.put(UInt64.max - 8, at: 0x20)  // e_phoff + table size wraps
        #expect(throws: BootError.truncated(what: "ELF program header table", needed: .max,
                                            available: UInt64(image.count))) {
            try load(image, into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsShortProgramHeaderEntries() throws {
        var image = ELFBuilder.twoSegments.bytes()
        image.put(UInt16(32), at: 0x36)
        #expect(throws: BootError.elfBadProgramHeaderSize(32)) { try load(image, into: makeMemory(mebibytes: 128)) }
    }

    @Test func rejectsSegmentPastEndOfFile() throws {
        var image = ELFBuilder.twoSegments.bytes()
        let header = ELFBuilder.programHeader(1)
        let offset = image.get(UInt64.self, at: header + 8)
        image.put(UInt64(0x1000), at: header + 32)  // p_filesz larger than what follows
        #expect(throws: BootError.elfSegmentPastEndOfFile(index: 1, offset: offset, size: 0x1000,
                                                          fileSize: UInt64(image.count))) {
            try load(image, into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsSegmentFileRangeOverflow() throws {
        var image = ELFBuilder.twoSegments.bytes()
        let header = ELFBuilder.programHeader(0)
        image.put(UInt64.max - 0x10, at: header + 8)  // p_offset + p_filesz wraps
        #expect(throws: BootError.elfSegmentFileRangeOverflows(index: 0, offset: .max - 0x10, size: 0x300)) {
            try load(image, into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsSegmentOutsideRAM() throws {
        var builder = ELFBuilder.twoSegments
        builder.segments[1].address = 128 << 20 - 0x1000  // bss runs past the end of a 128 MiB guest
        #expect(throws: BootError.elfSegmentOutsideRAM(index: 1, address: 128 << 20 - 0x1000, size: 0x2000)) {
            try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        }
        var wrapping = ELFBuilder.twoSegments.bytes()
        wrapping.put(UInt64.max - 0xff, at: ELFBuilder.programHeader(1) + 24)  // p_paddr + p_memsz wraps
        #expect(throws: BootError.elfSegmentOutsideRAM(index: 1, address: .max - 0xff, size: 0x2000)) {
            try load(wrapping, into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsSegmentInTheMMIOGap() throws {
        var builder = ELFBuilder.twoSegments
        builder.segments[1].address = 0xd000_0000
        #expect(throws: BootError.elfSegmentOutsideRAM(index: 1, address: 0xd000_0000, size: 0x2000)) {
            try load(builder.bytes(), into: makeMemory(mebibytes: 5 << 10))
        }
    }

    @Test func rejectsSegmentOverBootStructures() throws {
        var builder = ELFBuilder.twoSegments
        builder.segments[0].address = 0x7000  // would overwrite the zero page and page tables
        builder.entry = 0x7000
        #expect(throws: BootError.elfSegmentBelowHighMemory(index: 0, address: 0x7000)) {
            try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsMemorySizeBelowFileSize() throws {
        var image = ELFBuilder.twoSegments.bytes()
        image.put(UInt64(0x10), at: ELFBuilder.programHeader(1) + 40)
        #expect(throws: BootError.elfSegmentMemorySizeBelowFileSize(index: 1, fileSize: 0x80, memorySize: 0x10)) {
            try load(image, into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsEntryOutsideSegments() throws {
        var builder = ELFBuilder.twoSegments
        builder.entry = 0x10_0300  // one past the text segment
        #expect(throws: BootError.elfEntryOutsideSegments(entry: 0x10_0300)) {
            try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsImageWithoutLoadableSegments() throws {
        let builder = ELFBuilder(entry: 0x10_0000, segments: [
            .init(address: 0x10_0000, data: [], memorySize: 0),
        ])
        #expect(throws: BootError.elfNoLoadableSegments) { try load(builder.bytes(), into: makeMemory(mebibytes: 128)) }
    }

    @Test func writesNothingWhenALaterSegmentIsBad() throws {
        let memory = try makeMemory(mebibytes: 128)
        var image = ELFBuilder.twoSegments.bytes()
        image.put(UInt64(0x10), at: ELFBuilder.programHeader(1) + 40)
        #expect(throws: BootError.self) { try load(image, into: memory) }
        #expect(try memory.readBytes(at: GuestAddress(0x10_0000), count: 0x300).allSatisfy { $0 == 0 })
    }

    @Test func errorDescriptionsNameTheProblem() {
        let error = BootError.elfSegmentPastEndOfFile(index: 2, offset: 0x1000, size: 0x200, fileSize: 0x1100)
        #expect(error.description == "ELF segment 2 extends past end of file (offset 0x1000 + 0x200 > 0x1100)")
        let all: [BootError] = [
            .unknownImageFormat, .truncated(what: "x", needed: 1, available: 0), .elfNoLoadableSegments,
            .bzImageNo64BitEntry(xloadflags: 0), .initrdDoesNotFit(size: 1, lowest: 2, highest: 3),
            .commandLineTooLong(length: 5, maximum: 4), .guestMemory(.outOfRange(address: 0, length: 1)),
        ]
        for error in all {
            #expect(!error.description.isEmpty)
            #expect(!error.description.contains("\n"))
        }
    }
}
