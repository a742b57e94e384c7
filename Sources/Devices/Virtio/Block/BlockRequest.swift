import GuestMemory

/// The answer a virtio-blk device writes into a request's status byte (5.2.6).
public enum BlockStatus: UInt8, Sendable {
    case ok = 0
    case ioError = 1
    case unsupported = 2
}

/// One virtio-blk request (5.2.6): a device-readable 16-byte header {type le32, reserved
/// le32, sector le64}, data buffers, and a device-writable status byte at the end.
///
/// Like Firecracker, Kiln expects Linux's layout: the header alone in the first descriptor
/// and the status alone (at its first byte) in the last. Any other framing is refused with
/// IOERR rather than half understood.
struct BlockRequest {
    static let headerSize: UInt32 = 16
    static let sectorSize: UInt64 = 512
    static let idLength = 20

    // Request types.
    static let typeIn: UInt32 = 0
    static let typeOut: UInt32 = 1
    static let typeFlush: UInt32 = 4
    static let typeGetID: UInt32 = 8

    let type: UInt32
    let sector: UInt64
    let status: Descriptor
    /// Positions of the data descriptors in the chain.
    let data: Range<Int>

    enum Layout {
        case request(BlockRequest)
        /// The status byte is usable but the header is not: answer IOERR.
        case badHeader(status: Descriptor)
        /// No status byte the device may write: nothing can be answered.
        case malformed
    }

    static func parse(_ chain: borrowing [Descriptor], memory: GuestMemory) -> Layout {
        guard let status = chain.last, status.isDeviceWritable, status.length >= 1 else { return .malformed }
        guard chain.count >= 2, !chain[0].isDeviceWritable, chain[0].length == headerSize else {
            return .badHeader(status: status)
        }
        let header = chain[0].address
        do throws(GuestMemoryError) {
            // The descriptor was checked to lie in RAM, so these cannot fail; the guest may
            // change the header after this, but the device acts on the copy read here.
            let type = try memory.read(UInt32.self, at: header)
            let sector = try memory.read(UInt64.self, at: GuestAddress(header.rawValue + 8))
            return .request(BlockRequest(type: type, sector: sector, status: status, data: 1..<chain.count - 1))
        } catch {
            return .badHeader(status: status)
        }
    }
}

/// The disk behind a virtio-blk device and the limits it advertised: what executing a
/// request needs, apart from the request.
struct BlockDisk: Sendable {
    let backend: any BlockBackend
    /// Whole 512-byte sectors of the backend; a partial last sector is not addressable.
    let capacity: UInt64
    let isReadOnly: Bool
    let segmentMax: UInt32
    let sizeMax: UInt32
    /// GET_ID answer: the serial, NUL-padded to 20 bytes.
    let serial: [UInt8]

    /// The same disk on another backend (of the same read-only-ness, which the caller checked).
    func replacing(_ backend: any BlockBackend) -> BlockDisk {
        BlockDisk(backend: backend, capacity: backend.size / BlockRequest.sectorSize, isReadOnly: isReadOnly,
                  segmentMax: segmentMax, sizeMax: sizeMax, serial: serial)
    }

    /// Total length of `request`'s data if every buffer goes the way the request type needs
    /// (device-writable for reads), within seg_max and size_max, and (for I/O) whole sectors.
    func dataLength(of request: BlockRequest, in chain: borrowing [Descriptor],
                    deviceWritable: Bool, wholeSectors: Bool) -> UInt64? {
        guard request.data.count <= Int(segmentMax) else { return nil }
        var total: UInt64 = 0
        for index in request.data {
            let buffer = chain[index]
            guard buffer.isDeviceWritable == deviceWritable, buffer.length <= sizeMax else { return nil }
            total += UInt64(buffer.length)  // at most 32768 × 4 GiB: no overflow
        }
        guard !wholeSectors || total % BlockRequest.sectorSize == 0 else { return nil }
        return total
    }

    /// Byte offset of `sector` if `[sector, sector + length/512)` lies inside the disk.
    /// Compared in sectors, by subtraction, so a huge sector from the guest cannot wrap.
    func byteOffset(sector: UInt64, length: UInt64) -> UInt64? {
        guard sector <= capacity, length / BlockRequest.sectorSize <= capacity - sector else { return nil }
        return sector * BlockRequest.sectorSize
    }
}

extension BlockRequest {
    /// What the request costs a bandwidth limiter: the declared length of its data buffers
    /// for a read or write (whether or not it succeeds), nothing for the other types.
    func dataBytes(in chain: borrowing [Descriptor]) -> UInt64 {
        guard type == Self.typeIn || type == Self.typeOut else { return 0 }
        var total: UInt64 = 0
        for index in data { total += UInt64(chain[index].length) }  // < 32768 × 2^32: no overflow
        return total
    }

    /// Runs the request against `disk`. Returns the status and how many bytes went into
    /// guest buffers (status byte excluded); a failed read reports what it did move.
    func execute(in chain: borrowing [Descriptor], memory: GuestMemory, disk: BlockDisk,
                 vectors: inout IOVectors, metrics: BlockMetrics) -> (status: BlockStatus, written: UInt64) {
        switch type {
        case Self.typeIn:
            metrics.readRequests.increment()
            guard let length = disk.dataLength(of: self, in: chain, deviceWritable: true, wholeSectors: true),
                  let offset = disk.byteOffset(sector: sector, length: length),
                  let segments = vectors.take(chain, data, memory: memory) else { return (.ioError, 0) }
            var done: UInt64 = 0
            defer { metrics.bytesRead.increment(by: done) }
            do {
                try disk.backend.read(into: segments, at: offset, done: &done)
            } catch {
                return (.ioError, done)
            }
            return (.ok, done)

        case Self.typeOut:
            metrics.writeRequests.increment()
            guard !disk.isReadOnly,
                  let length = disk.dataLength(of: self, in: chain, deviceWritable: false, wholeSectors: true),
                  let offset = disk.byteOffset(sector: sector, length: length),
                  let segments = vectors.take(chain, data, memory: memory) else { return (.ioError, 0) }
            var done: UInt64 = 0
            defer { metrics.bytesWritten.increment(by: done) }
            do {
                try disk.backend.write(from: segments, at: offset, done: &done)
            } catch {
                return (.ioError, 0)
            }
            return (.ok, 0)

        case Self.typeFlush:
            metrics.flushes.increment()
            guard data.isEmpty else { return (.ioError, 0) }
            do {
                try disk.backend.flush()
            } catch {
                return (.ioError, 0)
            }
            return (.ok, 0)

        case Self.typeGetID:
            metrics.getIDs.increment()
            guard disk.dataLength(of: self, in: chain, deviceWritable: true, wholeSectors: false) != nil else {
                return (.ioError, 0)
            }
            return disk.serial.withUnsafeBytes { serial in
                // The ID is 20 bytes; a smaller buffer gets a prefix, a larger one no more.
                var done = 0
                for index in data where done < serial.count {
                    let count = min(Int(chain[index].length), serial.count - done)
                    do {
                        let buffer = try memory.slice(at: chain[index].address, count: count)
                        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: serial[done..<done + count]))
                    } catch {
                        return (.ioError, UInt64(done))
                    }
                    done += count
                }
                return (.ok, UInt64(done))
            }

        default:
            return (.unsupported, 0)
        }
    }
}

extension BlockRequest {
    /// What the async engine made of a request.
    enum AsyncOutcome {
        /// In the ring: answered when it completes.
        case inFlight
        /// Done already (the fast path): answer now.
        case answered(BlockStatus, written: UInt64)
        /// Not for the engine (GET_ID, refused requests): `execute` answers it at once.
        case notSubmitted
    }

    /// Hands a read, write or flush that passes every check to the async engine.
    func submit(to engine: AsyncBlockEngine, fd: Int32, chain: borrowing [Descriptor], head: UInt16,
                disk: BlockDisk, memory: GuestMemory, metrics: BlockMetrics) -> AsyncOutcome {
        switch type {
        case Self.typeIn, Self.typeOut:
            let isRead = type == Self.typeIn
            // io_uring takes no more iovecs per request than preadv: longer ones run split, sync.
            guard data.count <= VectoredTransfer.maxSegmentsPerCall, isRead || !disk.isReadOnly,
                  let length = disk.dataLength(of: self, in: chain, deviceWritable: isRead, wholeSectors: true),
                  let offset = disk.byteOffset(sector: sector, length: length) else { return .notSubmitted }
            let submission = engine.submitTransfer(isRead ? .read : .write, fd: fd, backend: disk.backend,
                                                   chain: chain, data, offset: offset, expected: length, head: head,
                                                   status: status.address, memory: memory)
            switch submission {
            case .refused, .blocking: return .notSubmitted
            case .inFlight:
                if isRead { metrics.readRequests.increment() } else { metrics.writeRequests.increment() }
                return .inFlight
            case let .completed(moved):
                if isRead {
                    metrics.readRequests.increment()
                    metrics.bytesRead.increment(by: moved)
                    return .answered(.ok, written: moved)
                }
                metrics.writeRequests.increment()
                metrics.bytesWritten.increment(by: moved)
                return .answered(.ok, written: 0)
            }
        case Self.typeFlush:
            guard data.isEmpty else { return .notSubmitted }
            engine.submitFlush(fd: fd, head: head, status: status.address)
            metrics.flushes.increment()
            return .inFlight
        default:
            return .notSubmitted
        }
    }
}
