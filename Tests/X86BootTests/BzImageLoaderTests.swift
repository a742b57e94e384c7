import GuestMemory
import Testing
@testable import X86Boot

@Suite struct BzImageLoaderTests {
    @Test func loadsProtectedModeKernelAtPreferredAddress() throws {
        let memory = try makeMemory(mebibytes: 128)
        let builder = BzImageBuilder()
        let image = builder.bytes()
        let kernel = try load(image, into: memory)

        #expect(kernel.kind == .bzImage)
        #expect(kernel.loadAddress == GuestAddress(0x100_0000))
        #expect(kernel.entry == GuestAddress(0x100_0200))  // startup_64
        // init_size (4 MiB) exceeds the image, so that is what the kernel claims.
        #expect(kernel.end == GuestAddress(0x100_0000 + 0x40_0000))
        #expect(try memory.readBytes(at: GuestAddress(0x100_0000), count: builder.kernel.count) == builder.kernel)
        // The header runs from 0x1f1 to 0x202 + the jump byte.
        #expect(kernel.setupHeader?.bytes == Array(image[0x1f1..<0x268]))
        #expect(kernel.initrdAddressMax == 0x7fff_ffff)
        #expect(kernel.commandLineMaxLength == 2047)
    }

    @Test func setupSectorsZeroMeansFour() throws {
        let memory = try makeMemory(mebibytes: 128)
        let builder = BzImageBuilder(setupSectors: 0)
        #expect(builder.setupSize == 5 * 512)
        _ = try load(builder.bytes(), into: memory)
        #expect(try memory.readBytes(at: GuestAddress(0x100_0000), count: 16) == Array(builder.kernel.prefix(16)))
    }

    @Test func kernelLargerThanInitSizeClaimsItsOwnSize() throws {
        let builder = BzImageBuilder(initSize: 0x100)
        let kernel = try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        #expect(kernel.end == GuestAddress(0x100_0000 + UInt64(builder.kernel.count)))
    }

    @Test func relocatableKernelFallsBackToAlignedAddressAboveOneMiB() throws {
        // 16 MiB guest: pref_address 16 MiB is not RAM; 1 MiB rounded up to 2 MiB is.
        let kernel = try load(BzImageBuilder().bytes(), into: makeMemory(mebibytes: 16))
        #expect(kernel.loadAddress == GuestAddress(0x20_0000))
        #expect(kernel.entry == GuestAddress(0x20_0200))
    }

    @Test func relocatableKernelIgnoresMisalignedPreferredAddress() throws {
        let builder = BzImageBuilder(preferredAddress: 0x110_0000)  // not 2 MiB aligned
        let kernel = try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        #expect(kernel.loadAddress == GuestAddress(0x20_0000))
    }

    @Test func fixedKernelMustFitAtPreferredAddress() throws {
        let builder = BzImageBuilder(relocatable: 0)
        #expect(throws: BootError.kernelDoesNotFit(address: 0x100_0000, size: 0x40_0000)) {
            try load(builder.bytes(), into: makeMemory(mebibytes: 16))
        }
        let kernel = try load(builder.bytes(), into: makeMemory(mebibytes: 32))
        #expect(kernel.loadAddress == GuestAddress(0x100_0000))
    }

    @Test func kernelWhoseInitSizeExceedsRAMDoesNotFit() throws {
        let builder = BzImageBuilder(initSize: 0xffff_ffff)
        #expect(throws: BootError.kernelDoesNotFit(address: 0x20_0000, size: 0xffff_ffff)) {
            try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsProtocol205() throws {
        let builder = BzImageBuilder(version: 0x0205)
        #expect(throws: BootError.bzImageProtocolTooOld(version: 0x0205)) {
            try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsMissingHdrS() throws {
        var image = BzImageBuilder().bytes()
        image.put(UInt32(0x1234_5678), at: 0x202)
        #expect(throws: BootError.bzImageMissingHeaderMagic(0x1234_5678)) {
            try load(image, into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsBadBootFlag() throws {
        var image = BzImageBuilder().bytes()
        image.put(UInt16(0x55aa), at: 0x1fe)
        #expect(throws: BootError.bzImageBadBootFlag(0x55aa)) { try load(image, into: makeMemory(mebibytes: 128)) }
    }

    @Test func rejectsKernelWithout64BitEntry() throws {
        let builder = BzImageBuilder(xloadflags: 0x02)  // XLF_CAN_BE_LOADED_ABOVE_4G only
        #expect(throws: BootError.bzImageNo64BitEntry(xloadflags: 0x02)) {
            try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        }
        // Before 2.12 the field does not exist, whatever the bytes say.
        let old = BzImageBuilder(version: 0x020b, xloadflags: 0x01)
        #expect(throws: BootError.bzImageNo64BitEntry(xloadflags: 0)) {
            try load(old.bytes(), into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsKernelNotLoadedHigh() throws {
        let builder = BzImageBuilder(loadflags: 0)
        #expect(throws: BootError.bzImageNotLoadedHigh(loadflags: 0)) {
            try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsNonPowerOfTwoAlignment() throws {
        let builder = BzImageBuilder(kernelAlignment: 0x30_0000)
        #expect(throws: BootError.bzImageBadKernelAlignment(0x30_0000)) {
            try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsTruncatedSetup() throws {
        // setup_sects = 20: the 7 KiB image ends inside the setup code.
        var image = BzImageBuilder().bytes()
        image[0x1f1] = 20
        #expect(throws: BootError.truncated(what: "bzImage setup code (20 sectors)", needed: 21 * 512 + 1,
                                            available: UInt64(image.count))) {
            try load(image, into: makeMemory(mebibytes: 128))
        }
    }

    @Test func rejectsImageEndingInTheHeader() throws {
        let image = Array(BzImageBuilder().bytes().prefix(0x240))
        #expect(throws: BootError.truncated(what: "bzImage setup header", needed: 0x268, available: 0x240)) {
            try load(image, into: makeMemory(mebibytes: 128))
        }
        let tiny = Array(BzImageBuilder().bytes().prefix(0x204))  // boot flag, half of "HdrS"
        #expect(throws: BootError.self) { try load(tiny, into: makeMemory(mebibytes: 128)) }
    }

    @Test func rejectsKernelTooShortForEntryPoint() throws {
        let builder = BzImageBuilder(kernel: pattern(0x100))
        #expect(throws: BootError.truncated(what: "bzImage kernel (64-bit entry at +0x200)",
                                            needed: 1024 + 0x201, available: 1024 + 0x100)) {
            try load(builder.bytes(), into: makeMemory(mebibytes: 128))
        }
    }

    @Test func unknownFormatAndEmptyImage() throws {
        #expect(throws: BootError.unknownImageFormat) { try load([], into: makeMemory(mebibytes: 128)) }
        #expect(throws: BootError.unknownImageFormat) {
            try load([UInt8](repeating: 0x90, count: 4096), into: makeMemory(mebibytes: 128))
        }
    }
}
