/// A FIFO of at most `capacity` elements in storage allocated once: the RX schedule and the
/// queued RST headers, which the device thread pushes and pops per packet.
struct VsockFixedQueue<Element> {
    private var storage: [Element?]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        storage = Array(repeating: nil, count: capacity)
    }

    var capacity: Int { storage.count }
    var isEmpty: Bool { count == 0 }

    /// False (nothing stored) when full.
    @discardableResult
    mutating func push(_ element: Element) -> Bool {
        guard count < storage.count else { return false }
        storage[(head + count) % storage.count] = element
        count += 1
        return true
    }

    mutating func pop() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    mutating func removeAll() {
        while pop() != nil {}
        head = 0
    }
}

extension VsockFixedQueue {
    /// Drops the elements `isStale` picks, keeping the order of the rest (O(capacity); only when
    /// a push finds the queue full).
    mutating func removeAll(where isStale: (Element) -> Bool) {
        var kept = 0
        for offset in 0..<count {
            let index = (head + offset) % storage.count
            guard let element = storage[index] else { continue }
            storage[index] = nil
            if !isStale(element) {
                storage[(head + kept) % storage.count] = element
                kept += 1
            }
        }
        count = kept
    }
}
