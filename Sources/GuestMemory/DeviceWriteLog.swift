/// The guest pages the VMM itself wrote (virtio buffers the device filled, used rings), one
/// bit per 4 KiB page per region. KVM's dirty log sees only the guest's own writes; a Diff
/// snapshot needs both. Written and taken on the device thread only (devices write guest
/// memory there, and a snapshot takes the log while the loop is quiesced), so no atomics.
public final class DeviceWriteLog: @unchecked Sendable {
    public static let pageSize: UInt64 = 4096
    private let starts: [UInt64]
    private let sizes: [UInt64]
    private var words: [[UInt64]]

    init(regions: [GuestRegion]) {
        starts = regions.map { $0.start.rawValue }
        sizes = regions.map(\.size)
        words = regions.map { [UInt64](repeating: 0, count: Int(($0.size / Self.pageSize + 63) / 64)) }
    }

    /// Marks the pages of `[address, address + length)` that lie in guest RAM.
    @usableFromInline
    func note(_ address: UInt64, length: UInt64) {
        guard length > 0 else { return }
        for index in starts.indices {
            let start = starts[index], size = sizes[index]
            guard address >= start, address - start < size else { continue }
            let offset = address - start
            let last = offset + min(length - 1, size - 1 - offset)
            var page = offset / Self.pageSize
            while page <= last / Self.pageSize {
                words[index][Int(page / 64)] |= 1 << (page % 64)
                page += 1
            }
            return
        }
    }

    /// The bitmap words per region, and a clean log from here on.
    func take() -> [[UInt64]] {
        let taken = words
        for index in words.indices {
            for word in words[index].indices { words[index][word] = 0 }
        }
        return taken
    }
}

extension GuestMemory {
    /// Records device writes from now on (a VM that may take Diff snapshots). Before the device
    /// thread starts: the log is read without synchronisation afterwards.
    public func startDeviceWriteLog() {
        if deviceWriteLog == nil { deviceWriteLog = DeviceWriteLog(regions: regions) }
    }

    /// Notes that the VMM wrote `[address, address + length)`: nothing unless logging.
    @inlinable @inline(__always)
    public func noteDeviceWrite(_ address: GuestAddress, length: UInt64) {
        deviceWriteLog?.note(address.rawValue, length: length)
    }

    /// The pages written since the last call (per region, bit per page), or nil when not logging.
    public func takeDeviceWriteLog() -> [[UInt64]]? { deviceWriteLog?.take() }
}
