import GuestMemory
import Synchronization

/// virtio-blk (device ID 2, virtio 1.x 5.2) backed by a `BlockBackend`, one request queue.
///
/// Offers SIZE_MAX and SEG_MAX (so each request is bounded), FLUSH, and RO for a read-only
/// backend. Config space: capacity (le64, sectors), size_max (le32), seg_max (le32).
///
/// Requests run synchronously on the thread that processes the queue (the VMM's device
/// thread). Per chain: the descriptors are copied into a buffer preallocated for the largest
/// queue, so a request is validated as a whole before any I/O and nothing is allocated.
/// Answers: a malformed chain (a descriptor outside RAM, a loop, no writable status byte) is
/// returned with used length 0; everything else gets a status byte, and used length = bytes
/// written into guest buffers + 1.
public final class Block: VirtioDevice {
    public static let defaultQueueSize: UInt16 = 256
    public static let defaultSizeMax: UInt32 = 1 << 20

    // Feature bits (5.2.3).
    public static let featureSizeMax: UInt64 = 1 << 1
    public static let featureSegmentMax: UInt64 = 1 << 2
    public static let featureReadOnly: UInt64 = 1 << 5
    public static let featureFlush: UInt64 = 1 << 9

    public let deviceType = VirtioDeviceType.block
    public let features: UInt64
    public let queueMaxSizes: [UInt16]
    public var configSize: Int { config.count }

    private let disk: BlockDisk
    private let config: [UInt8]
    private let metrics = BlockMetrics()
    private let chainBuffer: Mutex<[Descriptor]>

    /// - Parameters:
    ///   - serial: answered to GET_ID (`/sys/block/vdX/serial`); truncated to 20 bytes.
    ///   - sizeMax: the largest single data buffer accepted, advertised as size_max.
    public init(backend: any BlockBackend, serial: String, queueSize: UInt16 = defaultQueueSize,
                sizeMax: UInt32 = defaultSizeMax) {
        precondition(queueSize >= 4 && sizeMax >= 512, "virtio-blk needs a queue of 4+ and size_max of 512+")
        // Header and status take two descriptors of a chain no longer than the queue.
        let segmentMax = UInt32(queueSize) - 2
        var serialBytes = Array(serial.utf8.prefix(BlockRequest.idLength))
        serialBytes += repeatElement(0, count: BlockRequest.idLength - serialBytes.count)
        disk = BlockDisk(backend: backend, capacity: backend.size / BlockRequest.sectorSize,
                         isReadOnly: backend.isReadOnly, segmentMax: segmentMax, sizeMax: sizeMax,
                         serial: serialBytes)
        features = Self.featureSizeMax | Self.featureSegmentMax | Self.featureFlush
            | (backend.isReadOnly ? Self.featureReadOnly : 0)
        queueMaxSizes = [queueSize]
        var config: [UInt8] = []
        withUnsafeBytes(of: disk.capacity.littleEndian) { config += $0 }
        withUnsafeBytes(of: sizeMax.littleEndian) { config += $0 }
        withUnsafeBytes(of: segmentMax.littleEndian) { config += $0 }
        self.config = config
        var chainBuffer: [Descriptor] = []
        chainBuffer.reserveCapacity(Int(queueSize))
        self.chainBuffer = Mutex(chainBuffer)
    }

    /// Disk size in 512-byte sectors, as the guest sees it.
    public var capacity: UInt64 { disk.capacity }
    public var isReadOnly: Bool { disk.isReadOnly }
    public var counters: BlockCounters { metrics.snapshot }

    public func readConfig(offset: Int, into data: UnsafeMutableRawBufferPointer) {
        config.withUnsafeBytes { config in
            data.copyMemory(from: UnsafeRawBufferPointer(rebasing: config[offset..<offset + data.count]))
        }
    }

    public func processQueue(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        try chainBuffer.withLock { (buffer: inout [Descriptor]) throws(QueueError) in
            while var chain = try queue.popChain(memory: memory) {
                let used = handle(&chain, buffer: &buffer, memory: memory)
                try queue.addUsed(head: chain.head, length: used, memory: memory)
            }
        }
    }

    /// Executes one chain and returns its used length.
    private func handle(_ chain: inout DescriptorChain, buffer: inout [Descriptor], memory: GuestMemory) -> UInt32 {
        metrics.requests.increment()
        // Capacity was reserved for the largest queue and a chain never exceeds the queue
        // size, so these appends never allocate.
        buffer.removeAll(keepingCapacity: true)
        do {
            while let descriptor = try chain.next() { buffer.append(descriptor) }
        } catch {
            metrics.malformedChains.increment()
            return 0
        }
        switch BlockRequest.parse(buffer, memory: memory) {
        case .malformed:
            metrics.malformedChains.increment()
            return 0
        case let .badHeader(status):
            return complete(status: status, with: .ioError, written: 0, memory: memory)
        case let .request(request):
            let (status, written) = request.execute(in: buffer, memory: memory, disk: disk, metrics: metrics)
            return complete(status: request.status, with: status, written: written, memory: memory)
        }
    }

    private func complete(status descriptor: Descriptor, with status: BlockStatus, written: UInt64,
                          memory: GuestMemory) -> UInt32 {
        switch status {
        case .ok: break
        case .ioError: metrics.ioErrors.increment()
        case .unsupported: metrics.unsupported.increment()
        }
        do {
            try memory.write(status.rawValue, at: descriptor.address)
        } catch {
            metrics.malformedChains.increment()
            return 0
        }
        return UInt32(clamping: written + 1)
    }
}
