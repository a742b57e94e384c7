import GuestMemory
#if canImport(Glibc)
import Glibc
#endif

/// One virtio-fs request chain in and its reply out, through buffers allocated once.
///
/// The request is copied before the server looks at it (so the guest cannot change a name
/// after it was checked); the reply is built in the device's buffer and copied out, never
/// written to guest memory beyond the chain's writable descriptors. READ data alone goes
/// straight from the host file into those descriptors (preadv on `payload`), uncopied.
struct FsChain: ~Copyable {
    /// The longest request kept: a name-carrying request needs 40 + 8 + 256 bytes, INIT 104,
    /// a BATCH_FORGET of 500 entries 8 KiB. WRITE and SETXATTR may be longer; they are
    /// refused from their header alone.
    static let requestCapacity = 8 * 1024 + 64

    /// Room for the largest reply: a READ or READDIR of `maxReadSize`, or an xattr value.
    static func replyCapacity(for limits: FileServerLimits) -> Int {
        FuseLayout.outHeaderSize + max(limits.maxReadSize, FuseLayout.xattrSizeMax)
    }

    let server: FileServer
    private var descriptors: [Descriptor]
    private let request: UnsafeMutableRawBufferPointer
    private let reply: UnsafeMutableRawBufferPointer
    /// The writable descriptors past the reply header, as host iovecs: one per descriptor.
    private let payload: UnsafeMutableBufferPointer<iovec>

    init(server: FileServer, queueSize: UInt16, replyCapacity: Int) {
        self.server = server
        descriptors = []
        descriptors.reserveCapacity(Int(queueSize))
        request = .allocate(byteCount: Self.requestCapacity, alignment: 8)
        reply = .allocate(byteCount: replyCapacity, alignment: 8)
        payload = .allocate(capacity: Int(queueSize))
        payload.initialize(repeating: iovec())
    }

    deinit {
        request.deallocate()
        reply.deallocate()
        payload.deallocate()
    }

    /// Answers one chain; returns its used length (0 for FORGET, or a chain with no room for
    /// a reply or that cannot be walked).
    mutating func serve(_ chain: inout DescriptorChain, memory: GuestMemory) -> UInt32 {
        // A chain never exceeds the queue size (its walk budget), so this never reallocates.
        descriptors.removeAll(keepingCapacity: true)
        do {
            while let descriptor = try chain.next() { descriptors.append(descriptor) }
        } catch {
            server.countMalformedChain()
            return 0
        }
        // Driver-readable buffers come first, then device-writable ones (2.7.4.2); a readable
        // one after a writable one is not a FUSE request.
        let firstWritable = descriptors.firstIndex { $0.isDeviceWritable } ?? descriptors.count
        guard !descriptors[firstWritable...].contains(where: { !$0.isDeviceWritable }) else {
            server.countMalformedChain()
            return 0
        }
        // At most 32768 descriptors of at most 4 GiB each: these sums cannot overflow Int.
        var readable = 0, copied = 0
        for descriptor in descriptors[..<firstWritable] {
            readable += Int(descriptor.length)
            let count = min(Int(descriptor.length), request.count - copied)
            guard count > 0 else { continue }
            guard let source = try? memory.slice(at: descriptor.address, count: count) else {
                server.countMalformedChain()
                return 0
            }
            (request.baseAddress! + copied).copyMemory(from: source.baseAddress!, byteCount: count)
            copied += count
        }
        let writable = descriptors[firstWritable...].reduce(0) { $0 + Int($1.length) }
        let room = UnsafeMutableRawBufferPointer(rebasing: reply[..<min(reply.count, writable)])
        guard let segments = payloadSegments(from: firstWritable, memory: memory) else {
            server.countMalformedChain()
            return 0
        }
        let answer = server.handle(request: UnsafeRawBufferPointer(rebasing: request[..<copied]),
                                   availableLength: readable, reply: room, payload: segments)
        return scatter(answer, memory: memory)
    }

    /// Host views of the writable buffers after the first `outHeaderSize` bytes (the reply
    /// header's place); nil if one is not guest RAM. The chain walk checked every buffer;
    /// `slice` checks again, so no guest address reaches preadv unchecked.
    private func payloadSegments(from firstWritable: Int, memory: GuestMemory) -> UnsafeMutableBufferPointer<iovec>? {
        var skip = FuseLayout.outHeaderSize
        var count = 0
        for descriptor in descriptors[firstWritable...] {
            let length = Int(descriptor.length)
            let skipped = min(skip, length)
            skip -= skipped
            guard length > skipped else { continue }
            guard let start = descriptor.address.adding(UInt64(skipped)),
                  let buffer = try? memory.slice(at: start, count: length - skipped) else { return nil }
            payload[count] = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
            count += 1
        }
        return UnsafeMutableBufferPointer(rebasing: payload[..<count])
    }

    /// Copies the buffered part of the reply into the writable descriptors in order (READ data
    /// is already there, after it); the reply never exceeds their total, which the server was
    /// given as its room. Returns the used length.
    private func scatter(_ answer: FileServerReply, memory: GuestMemory) -> UInt32 {
        let length = answer.buffered
        var written = 0
        for descriptor in descriptors where descriptor.isDeviceWritable && written < length {
            let count = min(Int(descriptor.length), length - written)
            guard count > 0 else { continue }
            guard let destination = try? memory.slice(at: descriptor.address, count: count) else {
                server.countMalformedChain()
                return 0
            }
            destination.baseAddress!.copyMemory(from: reply.baseAddress! + written, byteCount: count)
            written += count
        }
        return UInt32(answer.length)
    }
}
