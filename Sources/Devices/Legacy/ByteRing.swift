/// A fixed-capacity FIFO of bytes stored inline, so pushing and popping never allocate.
/// Used for the UART receive FIFO and the i8042 output buffer.
struct ByteRing<let capacity: Int> {
    private var storage = InlineArray<capacity, UInt8>(repeating: 0)
    private var head = 0
    private(set) var count = 0

    static var size: Int { capacity }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count == capacity }
    var freeSpace: Int { capacity - count }

    /// False (and the byte is dropped) when full.
    @discardableResult
    mutating func push(_ byte: UInt8) -> Bool {
        guard count < capacity else { return false }
        storage[(head + count) % capacity] = byte
        count += 1
        return true
    }

    mutating func pop() -> UInt8? {
        guard count > 0 else { return nil }
        let byte = storage[head]
        head = (head + 1) % capacity
        count -= 1
        return byte
    }

    mutating func removeAll() {
        head = 0
        count = 0
    }
}

extension ByteRing {
    /// The bytes waiting, oldest first (for a snapshot).
    var contents: [UInt8] {
        (0..<count).map { storage[(head + $0) % capacity] }
    }

    /// A ring holding `bytes`, oldest first; nil if they do not fit.
    init?(contents bytes: [UInt8]) {
        guard bytes.count <= capacity else { return nil }
        self.init()
        for byte in bytes { push(byte) }
    }
}
