import Synchronization

/// What `Block.processQueue` and `Block.replaceBackend` share under one lock: the disk, and
/// the buffer a chain's descriptors are copied into (preallocated for the largest queue).
struct BlockWork: Sendable {
    var disk: BlockDisk
    var chain: [Descriptor]
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
            let previous = work.disk.backend
            work.disk = work.disk.replacing(backend)
            liveCapacity.store(work.disk.capacity, ordering: .releasing)
            return (work.disk.capacity, previous)
        }
        return capacity
    }
}
