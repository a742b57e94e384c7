import Synchronization

/// Passes the first `limit` bytes of guest console output on, then one marker line, and drops
/// the rest: a guest printing forever must not fill the host's disk, or host RAM when the
/// console file is on a tmpfs (`kiln run` keeps console.log in its run directory).
///
/// Runs on vCPU threads with the UART's lock held: the count is one atomic (the lock already
/// orders writers; the atomic only makes the type Sendable), no allocation and no system call
/// beyond the wrapped output's own writes.
public final class CappedSerialOutput<Output: SerialOutput>: SerialOutput {
    public let limit: UInt64
    private let output: Output
    private let marker: [UInt8]
    /// Bytes offered so far, up to `limit`; `limit + 1` once the marker has been written.
    private let offered = Atomic<UInt64>(0)

    public init(_ output: Output, limit: UInt64) {
        precondition(limit < UInt64.max, "use the output itself for no limit")
        self.output = output
        self.limit = limit
        marker = Array("\n[kiln: console output truncated after \(limit) bytes]\n".utf8)
    }

    /// True once output has been dropped (the marker is written).
    public var isTruncated: Bool { offered.load(ordering: .relaxed) > limit }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        let before = offered.load(ordering: .relaxed)
        guard before <= limit, !bytes.isEmpty else { return }
        let room = limit - before
        if UInt64(bytes.count) <= room {
            offered.store(before + UInt64(bytes.count), ordering: .relaxed)
            output.write(bytes)
            return
        }
        offered.store(limit + 1, ordering: .relaxed)
        if room > 0 { output.write(UnsafeRawBufferPointer(rebasing: bytes[..<Int(room)])) }
        marker.withUnsafeBytes { output.write($0) }
    }
}
