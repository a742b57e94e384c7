import GuestMemory
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The async engine's state: the ring, one slot per request in flight (at most the queue
/// size, so a guest flooding the queue cannot make the VMM queue or allocate more), and the
/// iovec arena submissions are built in. Everything is allocated at construction.
///
/// The arena is reused after every submit: the ring was created only if the kernel has
/// IORING_FEAT_SUBMIT_STABLE, so it has copied the iovecs when io_uring_enter returns.
final class AsyncBlockEngine: @unchecked Sendable {
    struct InFlight {
        enum Kind { case read, write, flush }
        var head: UInt16 = 0
        var status = GuestAddress(0)
        var kind = Kind.flush
        /// Bytes the request moves; anything else is an error (see `outcome`).
        var expected: UInt64 = 0
        /// Bytes the fast path moved before the rest went to the ring.
        var movedImmediately: UInt64 = 0
    }

    /// What became of a read or write handed to the engine.
    enum Submission {
        /// In the ring: answered when it completes.
        case inFlight
        /// The fast path moved all of it: answer now.
        case completed(moved: UInt64)
        /// Not queued (its buffers are not all in guest RAM, or the ring refused it): the
        /// caller runs it on the sync path, which answers IOERR for buffers outside RAM.
        case refused
    }

    let ring: BlockRing
    private var slots: [InFlight]
    private var free: [UInt16]
    /// Completions taken from the ring outside `processQueue` (a backend swap, a reset): they
    /// are published (or dropped, for a reset) by the next pass over the queue.
    private var parked: [(slot: UInt16, result: Int32)]
    /// `parked.count`, readable without the work lock by the eventfd handler.
    private let parkedCount = Atomic<Int>(0)
    private var arena: IOVectors
    /// Prepared and submitted, not yet reaped.
    private(set) var submitted = 0
    private var prepared = 0
    /// Whether the backend takes non-blocking reads and writes (`readImmediately`): on until it
    /// says `.unsupported`, and again for a new backend.
    private var immediateReads = true
    private var immediateWrites = true
    /// One non-blocking attempt per pass over the queue. A pass that takes many requests
    /// (a guest with many in flight) does better handing them all to the ring in one
    /// io_uring_enter, where the kernel also tries each without blocking first (measured: 0.1
    /// system calls per warm random read, against 1.06 with an attempt per request); a pass of
    /// one request (a guest waiting for each) saves the enter, the eventfd wake-up and its read.
    private var attemptedThisPass = false

    init(queueSize: UInt16) throws(BlockIOError) {
        ring = try BlockRing(entries: UInt32(queueSize))
        slots = Array(repeating: InFlight(), count: Int(queueSize))
        free = Array((0..<queueSize).reversed())
        parked = []
        parked.reserveCapacity(Int(queueSize))
        // A request has at most queueSize - 2 segments: two of them always fit after a submit.
        arena = IOVectors(capacity: 2 * Int(queueSize))
    }

    /// Whether a pass over the queue has answers to publish: completions in the ring or parked
    /// by a swap. Read without the work lock (racy: a completion it misses signals the eventfd
    /// again, and a parked one was taken under the lock the next pass waits for).
    var mayHaveCompletions: Bool { ring.hasCompletions || parkedCount.load(ordering: .relaxed) > 0 }

    var hasFreeSlot: Bool { !free.isEmpty }
    var inFlight: Int { slots.count - free.count }

    /// Reads or writes `chain[range]` at `offset`. The first of a pass is tried without
    /// blocking, on this thread (`readImmediately`: a page-cache hit costs one system call and
    /// no round trip through the ring and its eventfd); what that could not move, and the rest
    /// of the pass, is queued to the ring, continuing from the first byte not moved.
    func submitTransfer(_ kind: InFlight.Kind, fd: Int32, backend: any BlockBackend, chain: borrowing [Descriptor],
                        _ range: Range<Int>, offset: UInt64, expected: UInt64, head: UInt16, status: GuestAddress,
                        memory: GuestMemory) -> Submission {
        if arena.capacity - arena.count < range.count { flushSubmissions() }
        guard let start = arena.append(chain, range, memory: memory) else { return .refused }
        let segments = arena.segments(from: start)
        // Never more than the request's length, whatever a backend claims.
        let moved = min(transferImmediately(kind, backend: backend, segments, at: offset), expected)
        if moved >= expected {
            arena.removeLast(arena.count - start)
            return .completed(moved: moved)
        }
        // The fast path moved at most the request's length, inside the disk: no overflow.
        let first = moved == 0 ? 0 : VectoredTransfer.advance(segments, from: 0, by: Int(moved))
        let operation: BlockRing.Operation = kind == .read ? .readv : .writev
        let request = InFlight(head: head, status: status, kind: kind, expected: expected, movedImmediately: moved)
        let queued = enqueue(request) { tag in
            ring.prepare(operation, fd: fd, segments: arena.segments(from: start + first), offset: offset + moved,
                         tag: tag)
        }
        return queued ? .inFlight : .refused
    }

    /// Bytes the backend moved without blocking (0 if it would block or cannot).
    private func transferImmediately(_ kind: InFlight.Kind, backend: any BlockBackend,
                                     _ segments: UnsafeMutableBufferPointer<iovec>, at offset: UInt64) -> UInt64 {
        guard !attemptedThisPass else { return 0 }
        let result: ImmediateTransfer
        switch kind {
        case .read where immediateReads: result = backend.readImmediately(into: segments, at: offset)
        case .write where immediateWrites: result = backend.writeImmediately(from: segments, at: offset)
        default: return 0
        }
        switch result {
        case let .moved(bytes):
            attemptedThisPass = true
            return UInt64(max(bytes, 0))
        case .wouldBlock:
            attemptedThisPass = true
            return 0
        case .unsupported:
            if kind == .read { immediateReads = false } else { immediateWrites = false }
            return 0
        }
    }

    /// A new backend may take non-blocking I/O where the old one did not.
    func backendReplaced() {
        immediateReads = true
        immediateWrites = true
    }

    /// Queues an fdatasync that starts only after every request submitted before it completed
    /// (IOSQE_IO_DRAIN), so a flush covers the writes the guest saw completed before it.
    func submitFlush(fd: Int32, head: UInt16, status: GuestAddress) {
        _ = enqueue(InFlight(head: head, status: status, kind: .flush, expected: 0)) { tag in
            ring.prepare(.fdatasync, fd: fd, segments: nil, offset: 0, tag: tag, drain: true)
        }
    }

    private func enqueue(_ request: InFlight, _ prepare: (UInt64) -> Bool) -> Bool {
        let slot = free.removeLast()
        slots[Int(slot)] = request
        // The submission queue has as many entries as there are slots, so it is never full.
        guard prepare(UInt64(slot)) else {
            free.append(slot)
            return false
        }
        prepared += 1
        return true
    }

    /// Hands what was prepared to the kernel and, once all of it is there, starts a new arena.
    /// A transient failure (EAGAIN, ENOMEM, EBUSY) is retried a few times; what is still not
    /// submitted stays in the submission ring, its iovecs kept, for the next pass.
    func flushSubmissions() {
        attemptedThisPass = false
        for _ in 0..<4 where prepared > 0 {
            let result = ring.submit()
            if result > 0 {
                submitted += Int(result)
                prepared -= Int(result)
            } else if result != -EAGAIN && result != -ENOMEM && result != -EBUSY {
                break
            }
        }
        if prepared == 0 { arena.removeAll() }
    }

    /// The next completion: parked ones first, then the ring. The slot is free again.
    func nextCompletion() -> (request: InFlight, result: Int32)? {
        let completion: (slot: UInt16, result: Int32)
        if let first = parked.popLast() {
            completion = first
            parkedCount.store(parked.count, ordering: .relaxed)
        } else {
            guard let (tag, result) = ring.reap() else { return nil }
            submitted -= 1
            // Tags are slot numbers this engine gave the kernel; checked all the same.
            guard tag < UInt64(slots.count) else { return nextCompletion() }
            completion = (UInt16(tag), result)
        }
        free.append(completion.slot)
        return (slots[Int(completion.slot)], completion.result)
    }

    /// Waits (polling the ring, which needs no system call) until nothing is in flight; the
    /// completions are parked for the next pass. For a backend swap, which must not leave
    /// requests running on the old file, and a reset, which must not leave them writing into
    /// buffers the driver took back.
    func waitForInFlight(pause: () -> Void) {
        while submitted > 0 {
            if let (tag, result) = ring.reap() {
                submitted -= 1
                if tag < UInt64(slots.count) { parked.append((UInt16(tag), result)) }
                parkedCount.store(parked.count, ordering: .relaxed)
            } else {
                pause()
            }
        }
    }

    /// Forgets every completion (after a reset: the rings they belong to are gone).
    func dropCompletions() {
        while nextCompletion() != nil {}
    }
}

extension AsyncBlockEngine.InFlight {
    /// The answer for a completion with `result` (bytes the ring moved, after what the fast path
    /// moved, or -errno): a short transfer is an error — io_uring already continues short reads and writes of regular files and block
    /// devices, so what remains short hit the end of the file or a full disk.
    func outcome(_ result: Int32) -> (status: BlockStatus, written: UInt64, moved: UInt64) {
        let moved = movedImmediately + (result > 0 ? UInt64(result) : 0)
        switch kind {
        case .read: return (moved == expected && result >= 0 ? .ok : .ioError, moved, moved)
        case .write: return (moved == expected && result >= 0 ? .ok : .ioError, 0, moved)
        case .flush: return (result == 0 ? .ok : .ioError, 0, 0)
        }
    }
}
