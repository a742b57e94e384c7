import GuestMemory
import Synchronization

/// virtio-fs (device ID 26, virtio 1.x 5.11): a host directory served read-only to the guest
/// by the in-process `FileServer`.
///
/// Queue 0 is the high-priority queue (FORGET, INTERRUPT), queues 1...N the request queues;
/// all carry the same FUSE requests, answered the same way. No feature bits (no notification
/// queue, no DAX window). Config space: tag[36] (UTF-8, NUL-padded), num_request_queues (le32).
///
/// Per chain (`FsChain`): the readable descriptors are copied into a preallocated request
/// buffer, the server answers into a preallocated reply buffer no larger than the chain's
/// writable space, and the reply is scattered into the writable descriptors. Nothing is
/// allocated per request, and no reply can outgrow the guest's buffers.
public final class Fs: VirtioDevice {
    public static let defaultQueueSize: UInt16 = 256
    public static let highPriorityQueue = 0
    public static let tagSize = 36
    static let configLength = tagSize + 4

    public let deviceType = VirtioDeviceType.fileSystem
    public let features: UInt64 = 0
    public let queueMaxSizes: [UInt16]
    public var configSize: Int { Self.configLength }
    public let tag: String

    private let config: [UInt8]
    private let work: Mutex<FsChain>

    /// - Parameters:
    ///   - tag: what the guest mounts (`mount -t virtiofs TAG /mnt`): 1 to 36 bytes.
    ///   - sharedDirectory: the host directory served; opened here, before any seccomp filter.
    ///   - requestQueues: request queues besides the high-priority one.
    public init(tag: String, sharedDirectory: String, requestQueues: Int = 1, queueSize: UInt16 = defaultQueueSize,
                limits: FileServerLimits = FileServerLimits()) throws(FileServerError) {
        let tagBytes = Array(tag.utf8)
        guard !tagBytes.isEmpty, tagBytes.count <= Self.tagSize, !tagBytes.contains(0) else { throw .invalidTag(tag) }
        guard requestQueues >= 1, requestQueues <= 64 else {
            throw .invalidQueues("request queues \(requestQueues) is outside 1...64")
        }
        guard queueSize >= 2, queueSize <= SplitQueue.sizeLimit, queueSize & (queueSize - 1) == 0 else {
            throw .invalidQueues("queue size \(queueSize) is not a power of two in 2...32768")
        }
        let server = try FileServer(sharedDirectory: sharedDirectory, limits: limits)
        self.tag = tag
        var config = tagBytes + [UInt8](repeating: 0, count: Self.tagSize - tagBytes.count)
        withUnsafeBytes(of: UInt32(requestQueues).littleEndian) { config += $0 }
        self.config = config
        queueMaxSizes = Array(repeating: queueSize, count: 1 + requestQueues)
        work = Mutex(FsChain(server: server, queueSize: queueSize, replyCapacity: FsChain.replyCapacity(for: limits)))
    }

    public var counters: FileServerCounters { work.withLock { $0.server.counters } }
    /// Nodes and open handles the guest holds now.
    public var usage: (nodes: Int, handles: Int) { work.withLock { ($0.server.nodeCount, $0.server.handleCount) } }

    public func readConfig(offset: Int, into data: UnsafeMutableRawBufferPointer) {
        for index in data.indices { data[index] = config[offset + index] }
    }

    public func reset() { work.withLock { $0.server.reset() } }

    /// Every queue is served the same way; one lock keeps the server's tables consistent when
    /// two queues are processed from different threads.
    public func processQueue(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        try work.withLock { (work: inout FsChain) throws(QueueError) in
            while var chain = try queue.popChain(memory: memory) {
                let used = work.serve(&chain, memory: memory)
                try queue.addUsed(head: chain.head, length: used, memory: memory)
            }
        }
    }
}
