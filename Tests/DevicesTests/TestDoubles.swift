import Devices
import Synchronization

/// Counts `trigger()` calls instead of raising an IRQ.
final class CountingInterruptLine: InterruptLine {
    private let count = Atomic<Int>(0)
    func trigger() { count.add(1, ordering: .relaxed) }
    var triggers: Int { count.load(ordering: .relaxed) }
}

/// Keeps everything the UART sends, and how many chunks it came in.
final class CapturingOutput: SerialOutput {
    private let captured = Mutex<(bytes: [UInt8], chunks: Int)>(([], 0))
    func write(_ bytes: UnsafeRawBufferPointer) {
        captured.withLock {
            $0.bytes.append(contentsOf: bytes)
            $0.chunks += 1
        }
    }
    var bytes: [UInt8] { captured.withLock { $0.bytes } }
    var text: String { String(decoding: bytes, as: UTF8.self) }
    var chunks: Int { captured.withLock { $0.chunks } }
}

/// Counts calls to a closure handed to a device.
final class CallCounter: Sendable {
    private let count = Atomic<Int>(0)
    var calls: Int { count.load(ordering: .relaxed) }
    var closure: @Sendable () -> Void { { [self] in count.add(1, ordering: .relaxed) } }
}

/// Remembers the last access and answers reads with `offset + index` in each byte.
final class RecordingDevice: BusDevice {
    struct Access: Equatable { var isWrite: Bool; var offset: UInt64; var bytes: [UInt8] }
    private let accesses = Mutex<[Access]>([])
    var log: [Access] { accesses.withLock { $0 } }

    func read(offset: UInt64, data: UnsafeMutableRawBufferPointer) {
        for index in data.indices { data[index] = UInt8(truncatingIfNeeded: offset + UInt64(index)) }
        accesses.withLock { $0.append(Access(isWrite: false, offset: offset, bytes: Array(data))) }
    }

    func write(offset: UInt64, data: UnsafeRawBufferPointer) {
        accesses.withLock { $0.append(Access(isWrite: true, offset: offset, bytes: Array(data))) }
    }
}

extension BusDevice {
    func readByte(_ offset: UInt64) -> UInt8 {
        var byte: UInt8 = 0xEE
        withUnsafeMutableBytes(of: &byte) { read(offset: offset, data: $0) }
        return byte
    }

    func writeByte(_ offset: UInt64, _ value: UInt8) {
        withUnsafeBytes(of: value) { write(offset: offset, data: $0) }
    }

    func readBytes(_ offset: UInt64, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xEE, count: count)
        bytes.withUnsafeMutableBytes { read(offset: offset, data: $0) }
        return bytes
    }

    func writeBytes(_ offset: UInt64, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write(offset: offset, data: $0) }
    }
}

extension Bus {
    /// The bytes read and whether a device handled the read.
    func read(address: UInt64, count: Int) -> (handled: Bool, bytes: [UInt8]) {
        var bytes = [UInt8](repeating: 0xEE, count: count)
        let handled = bytes.withUnsafeMutableBytes { read(address: address, data: $0) }
        return (handled, bytes)
    }

    func write(address: UInt64, bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { write(address: address, data: $0) }
    }
}
