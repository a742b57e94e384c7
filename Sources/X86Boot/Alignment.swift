/// `value` rounded up to a multiple of `alignment` (a power of two), or nil if that wraps.
func alignUp(_ value: UInt64, to alignment: UInt64) -> UInt64? {
    let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
    return overflow ? nil : sum & ~(alignment - 1)
}

/// `value` rounded down to a multiple of `alignment` (a power of two).
func alignDown(_ value: UInt64, to alignment: UInt64) -> UInt64 {
    value & ~(alignment - 1)
}

let pageSize: UInt64 = 0x1000
