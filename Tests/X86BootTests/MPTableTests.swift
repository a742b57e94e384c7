import GuestMemory
import Testing
@testable import X86Boot

@Suite struct MPTableTests {
    func table(vcpus: Int) throws -> (GuestMemory, [UInt8], [UInt8]) {
        let memory = try makeMemory(mebibytes: 128)
        try MPTable.write(vcpuCount: vcpus, to: memory)
        let pointer = try memory.readBytes(at: GuestAddress(0x9fc00), count: 16)
        let address = pointer.get(UInt32.self, at: 4)
        let header = try memory.readBytes(at: GuestAddress(UInt64(address)), count: 44)
        let config = try memory.readBytes(at: GuestAddress(UInt64(address)), count: Int(header.get(UInt16.self, at: 4)))
        return (memory, pointer, config)
    }

    func sum(_ bytes: [UInt8]) -> UInt8 { bytes.reduce(0, &+) }

    @Test(arguments: [1, 2, 4, 37])
    func floatingPointerAndTableAreValid(vcpus: Int) throws {
        let (_, pointer, config) = try table(vcpus: vcpus)
        #expect(Array(pointer[0..<4]) == Array("_MP_".utf8))
        #expect(pointer[8] == 1 && pointer[9] == 4)
        #expect(sum(pointer) == 0)
        #expect(pointer[11] == 0)  // a configuration table follows: no default configuration

        #expect(Array(config[0..<4]) == Array("PCMP".utf8))
        #expect(config[6] == 4)
        #expect(sum(config) == 0)
        #expect(config.get(UInt32.self, at: 36) == 0xfee0_0000)
        #expect(0x9fc10 + UInt64(config.count) <= 0xa0000)

        // Walk the entries by type, as Linux does, and count them.
        var offset = 44
        var processors: [(id: UInt8, flags: UInt8)] = []
        var ioAPICs: [[UInt8]] = []
        var ioInterrupts: [[UInt8]] = []
        var localInterrupts: [[UInt8]] = []
        var buses: [[UInt8]] = []
        for _ in 0..<Int(config.get(UInt16.self, at: 34)) {
            let type = config[offset]
            let length = type == 0 ? 20 : 8
            let entry = Array(config[offset..<offset + length])
            switch type {
            case 0: processors.append((entry[1], entry[3]))
            case 1: buses.append(entry)
            case 2: ioAPICs.append(entry)
            case 3: ioInterrupts.append(entry)
            case 4: localInterrupts.append(entry)
            default: Issue.record("unexpected entry type \(type)")
            }
            offset += length
        }
        #expect(offset == config.count)
        #expect(processors.map(\.id) == (0..<vcpus).map { UInt8($0) })
        #expect(processors.map(\.flags) == [3] + Array(repeating: 1, count: vcpus - 1))  // BSP only on 0
        #expect(buses.count == 1 && Array(buses[0][2..<8]) == Array("ISA   ".utf8))
        #expect(ioAPICs.count == 1)
        #expect(ioAPICs[0][1] == UInt8(vcpus) && ioAPICs[0][2] == 0x11 && ioAPICs[0][3] & 1 == 1)
        #expect(ioAPICs[0].get(UInt32.self, at: 4) == 0xfec0_0000)
        #expect(ioInterrupts.map { $0[5] } == Array(0..<24))            // source IRQ
        #expect(ioInterrupts.map { $0[7] } == Array(0..<24))            // IOAPIC pin
        #expect(ioInterrupts.allSatisfy { $0[6] == UInt8(vcpus) })       // destination IOAPIC
        #expect(localInterrupts.map { [$0[1], $0[7]] } == [[3, 0], [1, 1]])  // ExtINT->LINT0, NMI->LINT1
    }

    @Test func maximumIsWhatFitsBelowTheVGAHole() throws {
        #expect(MPTable.maxVcpus == 37)
        #expect(0x9fc00 + MPTable.size(vcpuCount: MPTable.maxVcpus) <= 0xa0000)
        #expect(0x9fc00 + MPTable.size(vcpuCount: MPTable.maxVcpus + 1) > 0xa0000)
        #expect(throws: BootError.invalidVcpuCount(38, maximum: 37)) { try MPTable.bytes(vcpuCount: 38) }
        #expect(throws: BootError.invalidVcpuCount(0, maximum: 37)) { try MPTable.bytes(vcpuCount: 0) }
    }
}
