import GuestMemory

/// One entry of the BIOS e820 memory map, as the zero page carries it (20 bytes, packed).
public struct E820Entry: Sendable, Equatable {
    public enum Kind: UInt32, Sendable {
        case ram = 1
        case reserved = 2
    }

    public let address: UInt64
    public let size: UInt64
    public let kind: Kind

    public init(address: UInt64, size: UInt64, kind: Kind) {
        self.address = address
        self.size = size
        self.kind = kind
    }

    static let encodedSize = 20
}

/// The memory map Linux reads from the zero page: low RAM below the EBDA, the EBDA reserved
/// (the MP table lives there), the legacy VGA/BIOS hole left out, then RAM from 1 MiB,
/// never inside the MMIO gap.
public enum E820 {
    /// `boot_params.e820_table` has room for this many entries.
    public static let maxEntries = 128

    public static func map(for regions: [(start: GuestAddress, size: UInt64)]) -> [E820Entry] {
        let ebda = Layout.ebdaStart.rawValue
        let lowEnd = Layout.lowRAMEnd.rawValue
        let high = Layout.highMemoryStart.rawValue
        let gap = Layout.mmioGapStart.rawValue..<Layout.mmioGapEnd.rawValue
        var entries: [E820Entry] = []

        func add(_ start: UInt64, _ end: UInt64, _ kind: E820Entry.Kind) {
            if end > start { entries.append(E820Entry(address: start, size: end - start, kind: kind)) }
        }
        for (start, size) in regions {
            let start = start.rawValue
            let end = start &+ size  // GuestMemory's layouts never wrap; clamp defensively below
            guard end > start else { continue }
            add(start, min(end, ebda), .ram)
            // The EBDA is reserved only where it is backed by RAM, so the kernel keeps off it.
            add(max(start, ebda), min(end, lowEnd), .reserved)
            // High RAM, split around the MMIO gap should a region straddle it.
            let highStart = max(start, high)
            add(highStart, min(end, gap.lowerBound), .ram)
            add(max(highStart, gap.upperBound), end, .ram)
        }
        return entries
    }

    public static func map(for memory: GuestMemory) -> [E820Entry] {
        map(for: memory.regions.map { ($0.start, $0.size) })
    }
}
