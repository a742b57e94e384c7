import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What `Block.processQueue` and `Block.replaceBackend` share under one lock: the disk, the
/// buffer a chain's descriptors are copied into and the iovecs of its data (both preallocated
/// for the largest queue).
struct BlockWork: ~Copyable, Sendable {
    var disk: BlockDisk
    var chain: [Descriptor]
    var vectors: IOVectors
    /// The async engine's ring and requests in flight; nil for a sync drive.
    var ring: AsyncBlockEngine?
}

/// Why a drive's backing file could not be replaced.
public struct BlockBackendReplacementError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "cannot replace the block backend: \(reason)" }
}

extension Block {
    /// Replaces the disk's backing file while the VM runs (Firecracker PATCH /drives
    /// path_on_host): takes effect between requests (serialize with processQueue), recomputes
    /// capacity in config space. Throws if `backend.isReadOnly` differs from the current
    /// backend's (features cannot change after negotiation). Returns the new capacity in
    /// sectors. The caller (VMM) then calls the transport's notifyConfigChange().
    ///
    /// Takes the lock `processQueue` holds for a whole pass over the ring, so no request sees
    /// two backends; one after the swap addresses the new capacity.
    public func replaceBackend(_ backend: any BlockBackend) throws(BlockBackendReplacementError) -> UInt64 {
        guard backend.isReadOnly == isReadOnly else {
            // Read-only is a feature bit (VIRTIO_BLK_F_RO): fixed once the driver negotiated.
            throw BlockBackendReplacementError(isReadOnly
                ? "the drive is read-only and the new backend is read-write"
                : "the drive is read-write and the new backend is read-only")
        }
        // The old backend leaves the lock and is released here, after it: closing its file is
        // no work for under the lock.
        let (capacity, _) = work.withLock { work in
            // Requests in flight finish on the old file before it is released; their answers
            // are published by the next pass over the queue (the eventfd is still readable).
            work.ring?.waitForInFlight { usleep(50) }
            work.ring?.backendReplaced()
            let previous = work.disk.backend
            work.disk = work.disk.replacing(backend)
            liveCapacity.store(work.disk.capacity, ordering: .releasing)
            return (work.disk.capacity, previous)
        }
        return capacity
    }
}

extension Block {
    /// The driver reset the device: requests still in flight finish (their buffers go back to
    /// the driver, and the rings they would be published to are being reset), unanswered.
    /// Runs on a vCPU thread, whose filter has no sleep: spins, which a reset with I/O in
    /// flight makes rare and short.
    public func reset() {
        work.withLock { work in
            guard let engine = work.ring else { return }
            engine.waitForInFlight {}
            engine.dropCompletions()
        }
    }
}
