import GuestMemory

/// How guest RAM is laid out in guest-physical space: from 0 up to the MMIO gap, and the
/// remainder from 4 GiB, so device windows below 4 GiB never shadow RAM.
public enum GuestRAM {
    /// Regions for a guest of `mebibytes` MiB, in the form `GuestMemory(layout:)` takes.
    public static func layout(mebibytes: UInt64) throws(BootError) -> [(start: GuestAddress, size: UInt64)] {
        let (bytes, overflow) = mebibytes.multipliedReportingOverflow(by: 1 << 20)
        guard mebibytes > 0, !overflow else { throw .invalidMemorySize(mebibytes: mebibytes) }
        let gapStart = Layout.mmioGapStart.rawValue
        guard bytes > gapStart else { return [(GuestAddress(0), bytes)] }
        let high = bytes - gapStart
        guard Layout.mmioGapEnd.adding(high) != nil else { throw .invalidMemorySize(mebibytes: mebibytes) }
        return [(GuestAddress(0), gapStart), (Layout.mmioGapEnd, high)]
    }

    /// One past the last RAM byte below the MMIO gap: the ceiling for anything the kernel
    /// must find below 4 GiB (the initrd).
    static func endBelowGap(_ regions: [GuestRegion]) -> UInt64 {
        let gapStart = Layout.mmioGapStart.rawValue
        return regions.filter { $0.start.rawValue < gapStart }.map { min($0.end, gapStart) }.max() ?? 0
    }
}
