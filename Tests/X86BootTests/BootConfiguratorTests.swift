import GuestMemory
import Testing
@testable import X86Boot

/// Reads the zero page back at the offsets zero-page.rst documents (literal numbers on
/// purpose: they check the implementation's constants).
struct ZeroPageReader {
    let memory: GuestMemory
    func u8(_ offset: UInt64) throws -> UInt8 { try memory.read(at: GuestAddress(0x7000 + offset)) }
    func u16(_ offset: UInt64) throws -> UInt16 { try memory.read(at: GuestAddress(0x7000 + offset)) }
    func u32(_ offset: UInt64) throws -> UInt32 { try memory.read(at: GuestAddress(0x7000 + offset)) }
    func u64(_ offset: UInt64) throws -> UInt64 { try memory.read(at: GuestAddress(0x7000 + offset)) }

    func e820() throws -> [E820Entry] {
        try (0..<UInt64(u8(0x1e8))).map { i in
            let offset = 0x2d0 + i * 20
            return E820Entry(address: try u64(offset), size: try u64(offset + 8),
                             kind: E820Entry.Kind(rawValue: try u32(offset + 16))!)
        }
    }
}

@Suite struct BootConfiguratorTests {
    func bootELF(mebibytes: UInt64, initrd: [UInt8]? = nil, commandLine: String = "console=ttyS0",
                 vcpus: Int = 1) throws -> (GuestMemory, BootSetup) {
        let memory = try makeMemory(mebibytes: mebibytes)
        let kernel = try load(ELFBuilder.twoSegments.bytes(), into: memory)
        let setup: BootSetup
        if let initrd {
            setup = try initrd.withUnsafeBytes {
                try BootConfigurator.configure(memory: memory, kernel: kernel, initrd: $0,
                                               commandLine: commandLine, vcpuCount: vcpus)
            }
        } else {
            setup = try BootConfigurator.configure(memory: memory, kernel: kernel, initrd: nil,
                                                   commandLine: commandLine, vcpuCount: vcpus)
        }
        return (memory, setup)
    }

    @Test func guestRAMLayout() throws {
        let small = try GuestRAM.layout(mebibytes: 128)
        #expect(small.count == 1)
        #expect(small[0].start == GuestAddress(0) && small[0].size == 128 << 20)

        let large = try GuestRAM.layout(mebibytes: 5 << 10)
        #expect(large.count == 2)
        #expect(large[0].start == GuestAddress(0) && large[0].size == 0xd000_0000)
        #expect(large[1].start == GuestAddress(1 << 32) && large[1].size == (5 << 30) - 0xd000_0000)

        let exact = try GuestRAM.layout(mebibytes: 0xd00)  // exactly up to the gap
        #expect(exact.count == 1 && exact[0].size == 0xd000_0000)

        #expect(throws: BootError.invalidMemorySize(mebibytes: 0)) { try GuestRAM.layout(mebibytes: 0) }
        #expect(throws: BootError.invalidMemorySize(mebibytes: .max)) { try GuestRAM.layout(mebibytes: .max) }
    }

    @Test func zeroPageForELFKernelIn128MiB() throws {
        let (memory, setup) = try bootELF(mebibytes: 128)
        let page = ZeroPageReader(memory: memory)

        #expect(try page.u16(0x1fe) == 0xaa55)
        #expect(try page.u32(0x202) == 0x5372_6448)
        #expect(try page.u16(0x206) >= 0x020c)
        #expect(try page.u8(0x210) == 0xff)
        #expect(try page.u8(0x211) & 0x81 == 0x81)  // LOADED_HIGH | CAN_USE_HEAP
        #expect(try page.u16(0x224) == 0xfe00)
        #expect(try page.u32(0x228) == 0x20000)
        #expect(try page.u32(0x238) == UInt32("console=ttyS0".utf8.count + 1))
        #expect(try page.u32(0x230) == 0x100_0000)
        #expect(try page.u32(0x218) == 0 && page.u32(0x21c) == 0)  // no initrd

        let expected = [
            E820Entry(address: 0, size: 0x9fc00, kind: .ram),
            E820Entry(address: 0x9fc00, size: 0x400, kind: .reserved),
            E820Entry(address: 0x10_0000, size: (128 << 20) - 0x10_0000, kind: .ram),
        ]
        #expect(try page.e820() == expected)
        #expect(setup.memoryMap == expected)
        #expect(try memory.readBytes(at: GuestAddress(0x20000), count: 14) == Array("console=ttyS0\0".utf8))
    }

    @Test func e820For5GiBGuestSkipsTheMMIOGap() throws {
        let (memory, _) = try bootELF(mebibytes: 5 << 10)
        #expect(try ZeroPageReader(memory: memory).e820() == [
            E820Entry(address: 0, size: 0x9fc00, kind: .ram),
            E820Entry(address: 0x9fc00, size: 0x400, kind: .reserved),
            E820Entry(address: 0x10_0000, size: 0xd000_0000 - 0x10_0000, kind: .ram),
            E820Entry(address: 1 << 32, size: (5 << 30) - 0xd000_0000, kind: .ram),
        ])
    }

    @Test func e820SplitsARegionThatStraddlesTheGap() {
        let map = E820.map(for: [(GuestAddress(0), 0x1_1000_0000)])
        #expect(map.suffix(2) == [
            E820Entry(address: 0x10_0000, size: 0xd000_0000 - 0x10_0000, kind: .ram),
            E820Entry(address: 1 << 32, size: 0x1000_0000, kind: .ram),
        ])
    }

    @Test func zeroPageForBzImageStartsFromItsSetupHeader() throws {
        let memory = try makeMemory(mebibytes: 128)
        let image = BzImageBuilder().bytes()
        let kernel = try load(image, into: memory)
        _ = try BootConfigurator.configure(memory: memory, kernel: kernel, initrd: nil,
                                           commandLine: "quiet", vcpuCount: 2)
        let page = ZeroPageReader(memory: memory)
        #expect(try page.u8(0x1f1) == 1)              // setup_sects, copied
        #expect(try page.u16(0x206) == 0x020f)        // the kernel's own version, kept
        #expect(try page.u32(0x230) == 0x20_0000)     // kernel_alignment, kept
        #expect(try page.u16(0x236) == 0x01)          // xloadflags, kept
        #expect(try page.u64(0x258) == 0x100_0000)    // pref_address, kept
        #expect(try page.u8(0x210) == 0xff)           // type_of_loader, ours
        #expect(try page.u8(0x211) == 0x81)
        #expect(try page.u32(0x228) == 0x20000)
        #expect(try page.u32(0x238) == 6)
        #expect(try page.u64(0x250) == 0)             // hostile setup_data pointer dropped
        #expect(try page.u8(0x268) == 0)              // setup code past the header not copied
        #expect(try page.u8(0x1e8) == 3)
    }

    @Test func initrdGoesToTheTopOfRAMPageAligned() throws {
        let initrd = pattern(0x1801)
        let (memory, setup) = try bootELF(mebibytes: 128, initrd: initrd)
        let expected = ((128 << 20) - 0x1801) & ~UInt64(0xfff)
        #expect(setup.initrd == InitrdPlacement(address: GuestAddress(expected), size: 0x1801))
        #expect(try memory.readBytes(at: GuestAddress(expected), count: initrd.count) == initrd)
        let page = ZeroPageReader(memory: memory)
        #expect(try page.u32(0x218) == UInt32(expected))
        #expect(try page.u32(0x21c) == 0x1801)
        #expect(try page.u32(0xc0) == 0 && page.u32(0xc4) == 0)
    }

    @Test func initrdStaysBelowInitrdAddrMax() throws {
        // ELF kernels get the protocol's default ceiling, 0x37ffffff, even with 5 GiB of RAM.
        let (_, setup) = try bootELF(mebibytes: 5 << 10, initrd: pattern(0x3000))
        #expect(setup.initrd?.address == GuestAddress(0x3800_0000 - 0x3000))

        // A bzImage's own initrd_addr_max wins when it is lower than RAM.
        let memory = try makeMemory(mebibytes: 128)
        let kernel = try load(BzImageBuilder(initrdAddressMax: 0x200_0fff).bytes(), into: memory)
        let placement = try Initrd.placement(size: 0x2000, kernelEnd: kernel.end,
                                             addressMax: kernel.initrdAddressMax, memory: memory)
        #expect(placement.address == GuestAddress(0x200_1000 - 0x2000))
    }

    @Test func initrdThatDoesNotFitIsAnError() throws {
        let memory = try makeMemory(mebibytes: 128)
        let kernel = try load(ELFBuilder.twoSegments.bytes(), into: memory)
        // Everything above the kernel's end (0x202000) is 128 MiB - 0x202000.
        let room = (128 << 20) - 0x20_2000
        #expect(throws: BootError.initrdDoesNotFit(size: UInt64(room + 1), lowest: 0x20_2000, highest: 128 << 20)) {
            try Initrd.placement(size: UInt64(room + 1), kernelEnd: kernel.end, addressMax: 0x37ff_ffff, memory: memory)
        }
        let fits = try Initrd.placement(size: UInt64(room), kernelEnd: kernel.end, addressMax: 0x37ff_ffff, memory: memory)
        #expect(fits.address == GuestAddress(0x20_2000))
        #expect(throws: BootError.initrdDoesNotFit(size: .max, lowest: 0x20_2000, highest: 128 << 20)) {
            try Initrd.placement(size: .max, kernelEnd: kernel.end, addressMax: 0x37ff_ffff, memory: memory)
        }
        // Through the configurator too, with nothing half-written to the zero page.
        let big = [UInt8](repeating: 1, count: room + 4096)
        #expect(throws: BootError.initrdDoesNotFit(size: UInt64(big.count), lowest: 0x20_2000, highest: 128 << 20)) {
            try big.withUnsafeBytes {
                try BootConfigurator.configure(memory: memory, kernel: kernel, initrd: $0, commandLine: "", vcpuCount: 1)
            }
        }
        #expect(try ZeroPageReader(memory: memory).u16(0x1fe) == 0)
    }

    @Test func commandLineLimits() throws {
        let memory = try makeMemory(mebibytes: 128)
        let kernel = try load(ELFBuilder.twoSegments.bytes(), into: memory)
        // ELF: the Layout buffer, 64 KiB with the NUL.
        let longest = String(repeating: "a", count: 0xffff)
        let setup = try BootConfigurator.configure(memory: memory, kernel: kernel, initrd: nil,
                                                   commandLine: longest, vcpuCount: 1)
        #expect(setup.commandLineSize == 0x10000)
        #expect(try memory.read(UInt8.self, at: GuestAddress(0x20000 + 0xffff)) == 0)
        #expect(throws: BootError.commandLineTooLong(length: 0x10000, maximum: 0xffff)) {
            try BootConfigurator.configure(memory: memory, kernel: kernel, initrd: nil,
                                           commandLine: longest + "a", vcpuCount: 1)
        }
        #expect(throws: BootError.commandLineContainsNUL(offset: 3)) {
            try BootConfigurator.configure(memory: memory, kernel: kernel, initrd: nil,
                                           commandLine: "abc\0def", vcpuCount: 1)
        }
        // bzImage: its cmdline_size is the limit.
        let bz = try load(BzImageBuilder(commandLineSize: 255).bytes(), into: memory)
        _ = try BootConfigurator.configure(memory: memory, kernel: bz, initrd: nil,
                                           commandLine: String(repeating: "b", count: 255), vcpuCount: 1)
        #expect(throws: BootError.commandLineTooLong(length: 256, maximum: 255)) {
            try BootConfigurator.configure(memory: memory, kernel: bz, initrd: nil,
                                           commandLine: String(repeating: "b", count: 256), vcpuCount: 1)
        }
    }

    @Test func vcpuCountIsBounded() throws {
        #expect(throws: BootError.invalidVcpuCount(0, maximum: BootConfigurator.maxVcpus)) {
            try bootELF(mebibytes: 128, vcpus: 0)
        }
        #expect(throws: BootError.invalidVcpuCount(BootConfigurator.maxVcpus + 1, maximum: BootConfigurator.maxVcpus)) {
            try bootELF(mebibytes: 128, vcpus: BootConfigurator.maxVcpus + 1)
        }
        _ = try bootELF(mebibytes: 128, vcpus: BootConfigurator.maxVcpus)
    }

    @Test func tooLittleRAMForBootStructuresIsAnErrorNotACrash() throws {
        // 192 KiB of RAM: room for the command line and page tables, not for the MP table.
        let memory = try GuestMemory(layout: [(GuestAddress(0), 0x30000)])
        let kernel = LoadedKernel(kind: .elf, entry: GuestAddress(0x10_0000), loadAddress: GuestAddress(0x10_0000),
                                  end: GuestAddress(0x10_1000), setupHeader: nil)
        #expect(throws: BootError.guestMemory(.outOfRange(address: 0x9fc00, length: 304))) {
            try BootConfigurator.configure(memory: memory, kernel: kernel, initrd: nil, commandLine: "", vcpuCount: 1)
        }
    }
}
