import GuestMemory
import Testing
@testable import X86Boot

@Suite struct BootTablesTests {
    func configuredMemory(vcpus: Int = 1) throws -> (GuestMemory, BootSetup) {
        let memory = try makeMemory(mebibytes: 128)
        let kernel = try load(ELFBuilder.twoSegments.bytes(), into: memory)
        let setup = try BootConfigurator.configure(memory: memory, kernel: kernel, initrd: nil,
                                                   commandLine: "", vcpuCount: vcpus)
        return (memory, setup)
    }

    @Test func pageTablesIdentityMapFourGiB() throws {
        let (memory, _) = try configuredMemory()
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x9000)) == 0xa003)
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x9008)) == 0)
        for i: UInt64 in 0..<4 {
            #expect(try memory.read(UInt64.self, at: GuestAddress(0xa000 + 8 * i)) == (0xb000 + 0x1000 * i) | 3)
        }
        #expect(try memory.read(UInt64.self, at: GuestAddress(0xa020)) == 0)
        // Every 2 MiB page maps to itself, present | writable | page size.
        for page: UInt64 in [0, 1, 511, 512, 1536 + 1, 2047] {
            let entry = try memory.read(UInt64.self, at: GuestAddress(0xb000 + 8 * page))
            #expect(entry == (page << 21) | 0x83)
        }
        // The last PD entry covers the LAPIC at 0xfee00000.
        let lapic = try memory.read(UInt64.self, at: GuestAddress(0xb000 + 8 * (0xfee0_0000 >> 21)))
        #expect(lapic & ~UInt64(0xfff) == 0xfee0_0000 & ~UInt64(0x1f_ffff))
    }

    @Test func gdtAndIDT() throws {
        let (memory, _) = try configuredMemory()
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x500)) == 0)
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x508)) == 0x00af_9b00_0000_ffff)
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x510)) == 0x00cf_9300_0000_ffff)
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x518)) == 0x008f_8b00_0000_ffff)
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x520)) == 0)
    }

    @Test func cpuStateForLongModeEntry() throws {
        let (_, setup) = try configuredMemory()
        let cpu = setup.cpu
        #expect(cpu.rip == 0x10_0040)
        #expect(cpu.rsp == 0x8ff0 && cpu.rbp == 0x8ff0)
        #expect(cpu.rsi == 0x7000)
        #expect(cpu.rflags == 0x2)
        #expect(cpu.cr0 & 0x8000_0001 == 0x8000_0001)         // PG | PE
        #expect(cpu.cr0 & 0x6000_0000 == 0)                   // caches enabled
        #expect(cpu.cr3 == 0x9000)
        #expect(cpu.cr4 & 0x20 == 0x20)                       // PAE
        #expect(cpu.efer == 0x500)                            // LME | LMA
        #expect(cpu.gdt == DescriptorTable(base: 0x500, limit: 31))
        #expect(cpu.idt == DescriptorTable(base: 0x520, limit: 7))

        #expect(cpu.cs == Segment(base: 0, limit: 0xffff_ffff, selector: 0x8, type: 0xb, present: true, dpl: 0,
                                  db: false, s: true, l: true, g: true, avl: false, unusable: false))
        let data = Segment(base: 0, limit: 0xffff_ffff, selector: 0x10, type: 0x3, present: true, dpl: 0,
                           db: true, s: true, l: false, g: true, avl: false, unusable: false)
        #expect([cpu.ds, cpu.es, cpu.fs, cpu.gs, cpu.ss] == [data, data, data, data, data])
        #expect(cpu.tr == Segment(base: 0, limit: 0xffff_ffff, selector: 0x18, type: 0xb, present: true, dpl: 0,
                                  db: false, s: false, l: false, g: true, avl: false, unusable: false))
        #expect(cpu.fpuControlWord == 0x37f && cpu.mxcsr == 0x1f80)
        #expect(cpu.msrs.contains(ModelSpecificRegister(index: 0x1a0, value: 1)))
    }

    @Test func segmentDecodesBaseLimitAndFlags() {
        let descriptor = GDT.descriptor(flags: 0x40f3, base: 0x1234_5678, limit: 0xabcde)
        let segment = Segment(descriptor: descriptor, selector: 0x2b)
        #expect(segment.base == 0x1234_5678)
        #expect(segment.limit == 0xabcde)  // byte granular: not scaled
        #expect(segment.type == 3 && segment.dpl == 3 && segment.db && !segment.g && segment.present)
        let absent = Segment(descriptor: 0, selector: 0)
        #expect(absent.unusable && !absent.present)
    }
}
