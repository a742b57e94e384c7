import GuestMemory
import Testing

/// Guest RAM is placed so KVM can map it with 2 MiB entries: host and guest addresses agree
/// modulo 2 MiB in every region, whatever the region's start, and all of it stays usable.
@Suite struct HugePageAlignmentTests {
    @Test func regionsAreCongruentToTheirGuestAddressesModulo2MiB() throws {
        let starts: [UInt64] = [0, 1 << 32, (2 << 32) + (1 << 20)]
        let memory = try GuestMemory(layout: [(GuestAddress(starts[0]), 64 << 20),
                                              (GuestAddress(starts[1]), 6 << 20),
                                              (GuestAddress(starts[2]), 3 << 20)])
        for region in memory.regions {
            let host = UInt64(UInt(bitPattern: region.host))
            #expect(host % (2 << 20) == region.start.rawValue % (2 << 20))
            // First and last byte of every region are mapped and writable.
            try memory.write(UInt8(0xA5), at: region.start)
            try memory.write(UInt8(0x5A), at: GuestAddress(region.start.rawValue + region.size - 1))
            #expect(try memory.read(UInt8.self, at: region.start) == 0xA5)
        }
    }
}
