import Devices
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A file backend whose non-blocking fast path (`readImmediately`/`writeImmediately`) follows
/// a script, so the async engine's answers to a page-cache hit, a miss, a short transfer and a
/// file system without RWF_NOWAIT can be tested whatever the host's page cache holds. Blocking
/// I/O and the ring go to the real file (or FIFO) underneath.
final class ScriptedImmediateBackend: BlockBackend {
    enum Step: Sendable {
        /// What the real file's fast path does.
        case real
        case wouldBlock
        case unsupported
        /// "The page cache had it": fills (reads) or takes (writes) the first `count` bytes, or
        /// all of them if nil, without touching the file.
        case cached(fill: UInt8, count: Int?)
        /// Moves the first `count` bytes through the real file (blocking), as a partial hit.
        case prefix(Int)
    }

    let file: FileBlockBackend
    private let script: Mutex<[Step]>
    private let askedCount = Atomic<Int>(0)
    /// Bytes `cached` steps took from write requests, in order.
    private let taken = Mutex<[UInt8]>([])

    init(_ file: FileBlockBackend, script: [Step]) {
        self.file = file
        self.script = Mutex(script)
    }

    /// Times the engine asked for a non-blocking transfer.
    var asked: Int { askedCount.load(ordering: .relaxed) }
    var takenBytes: [UInt8] { taken.withLock { $0 } }

    var size: UInt64 { file.size }
    var isReadOnly: Bool { file.isReadOnly }
    var fileDescriptor: Int32? { file.fileDescriptor }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        try file.read(into: buffer, at: offset)
    }
    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(BlockIOError) {
        try file.write(buffer, at: offset)
    }
    func flush() throws(BlockIOError) { try file.flush() }

    func readImmediately(into segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64) -> ImmediateTransfer {
        perform(segments, at: offset, isRead: true)
    }

    func writeImmediately(from segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64) -> ImmediateTransfer {
        perform(segments, at: offset, isRead: false)
    }

    private func perform(_ segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64,
                         isRead: Bool) -> ImmediateTransfer {
        askedCount.add(1, ordering: .relaxed)
        let step = script.withLock { $0.isEmpty ? .wouldBlock : $0.removeFirst() }
        switch step {
        case .real:
            return isRead ? file.readImmediately(into: segments, at: offset)
                          : file.writeImmediately(from: segments, at: offset)
        case .wouldBlock: return .wouldBlock
        case .unsupported: return .unsupported
        case let .cached(fill, count):
            return .moved(forEachByteRange(segments, limit: count) { buffer, _ in
                if isRead {
                    buffer.initializeMemory(as: UInt8.self, repeating: fill)
                } else {
                    taken.withLock { $0 += UnsafeRawBufferPointer(buffer) }
                }
            })
        case let .prefix(count):
            return .moved(forEachByteRange(segments, limit: count) { buffer, done in
                if isRead {
                    try? file.read(into: buffer, at: offset + UInt64(done))
                } else {
                    try? file.write(UnsafeRawBufferPointer(buffer), at: offset + UInt64(done))
                }
            })
        }
    }

    /// Calls `body` on the first `limit` bytes of `segments` (all if nil), one buffer per
    /// segment, with the bytes before it; returns the bytes covered.
    private func forEachByteRange(_ segments: UnsafeMutableBufferPointer<iovec>, limit: Int?,
                                  _ body: (UnsafeMutableRawBufferPointer, Int) -> Void) -> Int {
        var done = 0
        for segment in segments {
            let count = min(segment.iov_len, (limit ?? .max) - done)
            guard count > 0, let base = segment.iov_base else { continue }
            body(UnsafeMutableRawBufferPointer(start: base, count: count), done)
            done += count
        }
        return done
    }
}
