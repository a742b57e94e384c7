import GuestMemory

/// Why a kernel could not be loaded or the boot could not be configured. Each description is
/// one line that names the offending value, so an operator can tell a bad image from a bad
/// configuration without a debugger.
public enum BootError: Error, Equatable, Sendable, CustomStringConvertible {
    // Any image
    case unknownImageFormat
    /// A structure the loader needs lies (partly) past the end of the image.
    case truncated(what: String, needed: UInt64, available: UInt64)

    // ELF
    case elfNot64Bit(elfClass: UInt8)
    case elfNotLittleEndian(encoding: UInt8)
    case elfWrongMachine(UInt16)
    case elfNotExecutable(type: UInt16)
    case elfBadProgramHeaderSize(UInt16)
    case elfNoLoadableSegments
    case elfSegmentFileRangeOverflows(index: Int, offset: UInt64, size: UInt64)
    case elfSegmentPastEndOfFile(index: Int, offset: UInt64, size: UInt64, fileSize: UInt64)
    case elfSegmentMemorySizeBelowFileSize(index: Int, fileSize: UInt64, memorySize: UInt64)
    case elfSegmentBelowHighMemory(index: Int, address: UInt64)
    case elfSegmentOutsideRAM(index: Int, address: UInt64, size: UInt64)
    case elfEntryOutsideSegments(entry: UInt64)

    // bzImage
    case bzImageBadBootFlag(UInt16)
    case bzImageMissingHeaderMagic(UInt32)
    case bzImageProtocolTooOld(version: UInt16)
    case bzImageNotLoadedHigh(loadflags: UInt8)
    case bzImageNo64BitEntry(xloadflags: UInt16)
    case bzImageBadKernelAlignment(UInt32)
    /// No candidate load address has `size` bytes of RAM above 1 MiB (`address` is the last tried).
    case kernelDoesNotFit(address: UInt64, size: UInt64)

    // Boot configuration
    case invalidMemorySize(mebibytes: UInt64)
    case invalidVcpuCount(Int, maximum: Int)
    case invalidVcpuIndex(Int, count: Int)
    case commandLineTooLong(length: Int, maximum: Int)
    case commandLineContainsNUL(offset: Int)
    /// No page-aligned place in [lowest, highest) holds `size` bytes of initrd.
    case initrdDoesNotFit(size: UInt64, lowest: UInt64, highest: UInt64)
    case tooManyE820Entries(Int)
    /// Guest RAM does not cover a boot structure (too little memory, or a layout with holes).
    case guestMemory(GuestMemoryError)

    public var description: String {
        switch self {
        case .unknownImageFormat:
            "kernel image is neither an ELF file nor a bzImage (no ELF magic, no 0xaa55 boot flag)"
        case let .truncated(what, needed, available):
            "kernel image is truncated: \(what) needs \(hex(needed)) bytes, image has \(hex(available))"
        case let .elfNot64Bit(elfClass):
            "ELF class \(elfClass) is not ELFCLASS64 (2)"
        case let .elfNotLittleEndian(encoding):
            "ELF data encoding \(encoding) is not little-endian (1)"
        case let .elfWrongMachine(machine):
            "ELF machine \(machine) is not x86_64 (62)"
        case let .elfNotExecutable(type):
            "ELF type \(type) is not ET_EXEC (2)"
        case let .elfBadProgramHeaderSize(size):
            "ELF program header entry size \(size) is smaller than 56"
        case .elfNoLoadableSegments:
            "ELF image has no PT_LOAD segment with a non-zero size"
        case let .elfSegmentFileRangeOverflows(index, offset, size):
            "ELF segment \(index) file range overflows (offset \(hex(offset)) + \(hex(size)))"
        case let .elfSegmentPastEndOfFile(index, offset, size, fileSize):
            "ELF segment \(index) extends past end of file (offset \(hex(offset)) + \(hex(size)) > \(hex(fileSize)))"
        case let .elfSegmentMemorySizeBelowFileSize(index, fileSize, memorySize):
            "ELF segment \(index) has memsz \(hex(memorySize)) smaller than filesz \(hex(fileSize))"
        case let .elfSegmentBelowHighMemory(index, address):
            "ELF segment \(index) at \(hex(address)) lies below 1 MiB, where the boot structures live"
        case let .elfSegmentOutsideRAM(index, address, size):
            "ELF segment \(index) [\(hex(address)), +\(hex(size))) is not inside guest RAM"
        case let .elfEntryOutsideSegments(entry):
            "ELF entry point \(hex(entry)) is not inside a loaded segment"
        case let .bzImageBadBootFlag(flag):
            "bzImage boot flag at 0x1fe is \(hex(UInt64(flag))), expected 0xaa55"
        case let .bzImageMissingHeaderMagic(magic):
            "bzImage header magic at 0x202 is \(hex(UInt64(magic))), expected \"HdrS\""
        case let .bzImageProtocolTooOld(version):
            "bzImage boot protocol \(hex(UInt64(version))) is older than 2.06"
        case let .bzImageNotLoadedHigh(loadflags):
            "bzImage loadflags \(hex(UInt64(loadflags))) lack LOADED_HIGH: the kernel cannot be loaded at 1 MiB"
        case let .bzImageNo64BitEntry(xloadflags):
            "bzImage xloadflags \(hex(UInt64(xloadflags))) lack XLF_KERNEL_64: no 64-bit entry point"
        case let .bzImageBadKernelAlignment(alignment):
            "bzImage kernel_alignment \(hex(UInt64(alignment))) is not a power of two"
        case let .kernelDoesNotFit(address, size):
            "kernel needs \(hex(size)) bytes of RAM at \(hex(address)), which guest RAM does not have"
        case let .invalidMemorySize(mebibytes):
            "guest memory size of \(mebibytes) MiB is not usable"
        case let .invalidVcpuCount(count, maximum):
            "vCPU count \(count) is outside 1...\(maximum)"
        case let .invalidVcpuIndex(index, count):
            "vCPU index \(index) is outside 0..<\(count)"
        case let .commandLineTooLong(length, maximum):
            "kernel command line is \(length) bytes, longer than the maximum of \(maximum)"
        case let .commandLineContainsNUL(offset):
            "kernel command line contains a NUL byte at offset \(offset)"
        case let .initrdDoesNotFit(size, lowest, highest):
            "initrd of \(hex(size)) bytes does not fit between the kernel end \(hex(lowest)) and \(hex(highest))"
        case let .tooManyE820Entries(count):
            "guest memory map needs \(count) e820 entries, the zero page holds \(E820.maxEntries)"
        case let .guestMemory(error):
            "boot setup failed: \(error)"
        }
    }
}

/// `0x`-prefixed lower-case hex, as addresses are written everywhere in Kiln's messages.
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// Runs a guest-memory access, reporting its failure as a `BootError`.
@inline(__always)
func inGuest<T>(_ body: () throws(GuestMemoryError) -> T) throws(BootError) -> T {
    do throws(GuestMemoryError) {
        return try body()
    } catch {
        throw .guestMemory(error)
    }
}
