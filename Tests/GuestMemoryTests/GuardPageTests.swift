import Glibc
import GuestMemory
import Testing

/// Guest RAM lies between inaccessible guard areas, anonymous or file-backed, so a host access
/// running off a region faults instead of touching the host's other memory.
@Suite struct GuardPageTests {
    /// (start, end, permissions) of every mapping of this process.
    static func mappings() -> [(start: UInt, end: UInt, permissions: String)] {
        let fd = open("/proc/self/maps", O_RDONLY)
        precondition(fd >= 0, "cannot open /proc/self/maps")
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            let range = fields.first?.split(separator: "-") ?? []
            guard fields.count >= 2, range.count == 2, let start = UInt(range[0], radix: 16),
                  let end = UInt(range[1], radix: 16) else { return nil }
            return (start, end, String(fields[1]))
        }
    }

    /// True when every byte of [start, end) is mapped with exactly `permissions`.
    static func covered(_ start: UInt, _ end: UInt, by permissions: String) -> Bool {
        var next = start
        for mapping in mappings().sorted(by: { $0.start < $1.start }) where mapping.end > next && mapping.start <= next {
            guard mapping.permissions == permissions else { return false }
            next = mapping.end
            if next >= end { return true }
        }
        return false
    }

    static func expectGuarded(_ memory: GuestMemory, sourceLocation: SourceLocation = #_sourceLocation) {
        let guardSize = UInt(GuestMemory.guardSize)
        for region in memory.regions {
            let host = UInt(bitPattern: region.host), end = host + UInt(region.size)
            #expect(covered(host - guardSize, host, by: "---p"), "no guard below \(region.start)", sourceLocation: sourceLocation)
            #expect(covered(host, end, by: "rw-p"), "region \(region.start) not read-write", sourceLocation: sourceLocation)
            #expect(covered(end, end + guardSize, by: "---p"), "no guard above \(region.start)", sourceLocation: sourceLocation)
        }
    }

    @Test func anonymousRegionsHaveGuardsOnBothSides() throws {
        let memory = try GuestMemory(layout: [(GuestAddress(0), 8 << 20), (GuestAddress(1 << 32), 1 << 20)])
        Self.expectGuarded(memory)
    }

    @Test func fileBackedRegionsHaveGuardsOnBothSides() throws {
        var template = Array("/tmp/kiln-guard.XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        try #require(fd >= 0)
        defer { close(fd); template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) } }
        try #require(ftruncate(fd, 3 << 20) == 0)
        let memory = try GuestMemory(layout: [(GuestAddress(0), 2 << 20), (GuestAddress(0x1000_0000), 1 << 20)], file: fd)
        Self.expectGuarded(memory)
    }
}
